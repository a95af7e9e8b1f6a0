'use strict'
// PidGuardError: every error a user can hit, with a stable `code`.

const path = require('node:path')

const PKG = path.dirname(__dirname)
/** Stack lines that point into the package itself rather than at the caller. */
const OURS = [path.join(PKG, 'lib') + path.sep, path.join(PKG, 'index.js'), path.join(PKG, 'index.mjs')]

class PidGuardError extends Error {
  #holders

  constructor(info) {
    // Deeper than usual, once: our own frames are dropped from it below (see trimStack).
    const limit = Error.stackTraceLimit
    const deeper = typeof limit === 'number' && limit > 0
    if (deeper) Error.stackTraceLimit = limit + 12
    try {
      super(info.message)
    } finally {
      if (deeper) Error.stackTraceLimit = limit
    }
    this.name = 'PidGuardError'
    this.code = info.code
    if (info.path !== undefined) this.path = info.path
    if (info.errno !== undefined) this.errno = info.errno
    if (info.holders !== undefined) this.holders = info.holders
    if (deeper) trimStack(this, limit)
  }

  /** Every holder the error names (ELOCKED): kept out of the printed error, which names them already. */
  get holders() { return this.#holders }
  set holders(v) { this.#holders = v }

  /** The first holder, for the common exclusive case. */
  get holder() { return this.#holders?.[0] }
}

/**
 * The stack starts at the caller's line (their `acquire(...)`), not inside pid-guard: an
 * uncaught error then prints the message and where the user called us, nothing else. The stack
 * was captured `limit + 12` deep; at most `limit` of the caller's frames are kept.
 */
function trimStack(err, limit) {
  const lines = String(err.stack).split('\n')
  const head = lines.findIndex((l) => /^\s+at /.test(l))
  if (head < 0) return
  const frames = lines.slice(head).filter((l) => !OURS.some((p) => l.includes(p)))
  // All frames ours (called from our own code only): keep the original rather than nothing.
  if (frames.length === 0) return
  err.stack = [...lines.slice(0, head), ...frames.slice(0, limit)].join('\n')
}

function invalidOption(message) {
  return new PidGuardError({ code: 'EINVALIDOPTION', message: `pid-guard: ${message}` })
}

module.exports = { PidGuardError, invalidOption }
