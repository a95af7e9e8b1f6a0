'use strict'
// CLI output helpers: plain writes (flushed by Node before a natural exit, since we set
// process.exitCode rather than calling process.exit), colours only on a TTY without NO_COLOR.

class UsageError extends Error {}

// A reader that goes away early (`pid-guard list --json | head -c1`) closes the pipe: the next
// write fails with EPIPE, which Node emits as an 'error' event and, with no listener, turns into
// an uncaught exception and a stack trace. Output nobody reads is dropped instead, and the
// command still exits with its own code (a health probe piped into `head` keeps its meaning).
// Installed when this module is first loaded, before any command writes.
// A command that writes until stopped (health --watch) ends when stdout's reader is gone:
// onStdoutClosed(fn) runs fn then, as SIGPIPE would have ended it.
const closed = new WeakSet()
const whenClosed = []
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err?.code === 'EPIPE' || err?.code === 'ERR_STREAM_DESTROYED') {
      if (!closed.has(stream) && stream === process.stdout) for (const fn of whenClosed.splice(0)) fn()
      closed.add(stream)
      return
    }
    // Anything else is not a closed reader: surface it as before.
    process.nextTick(() => {
      throw err
    })
  })
}

function write(stream, s) {
  if (closed.has(stream) || stream.destroyed) return
  stream.write(s)
}

function onStdoutClosed(fn) {
  if (closed.has(process.stdout)) fn()
  else whenClosed.push(fn)
}

function writeOut(s) {
  write(process.stdout, s)
}

function writeErr(s) {
  write(process.stderr, s)
}

function useColor(stream = process.stdout) {
  return Boolean(stream.isTTY) && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb'
}

function paint(code, s, stream) {
  return useColor(stream) ? `\x1b[${code}m${s}\x1b[0m` : s
}

const green = (s, st) => paint('32', s, st)
const red = (s, st) => paint('31', s, st)
const yellow = (s, st) => paint('33', s, st)
const dim = (s, st) => paint('2', s, st)

/** "3 min" style durations for people. */
function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 120) return `${s} s`
  if (s < 7200) return `${Math.round(s / 60)} min`
  if (s < 172800) return `${Math.round(s / 3600)} h`
  return `${Math.round(s / 86400)} days`
}

/** Common --dir / --json parsing on top of node:util parseArgs. */
function parse(argv, extra = {}, allowPositionals = true) {
  const { parseArgs } = require('node:util')
  return parseArgs({
    args: argv,
    allowPositionals,
    strict: true,
    options: { dir: { type: 'string' }, json: { type: 'boolean' }, ...extra },
  })
}

module.exports = { UsageError, onStdoutClosed, writeOut, writeErr, useColor, green, red, yellow, dim, duration, parse }
