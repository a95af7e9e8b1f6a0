'use strict'
// acquire / status / list: argument checks and the Guard object over the native handle.

const { binding, call, normalizeStatus } = require('./native')
const { PidGuardError, invalidOption } = require('./errors')
const hooks = require('./hooks')

const dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose')
const ACQUIRE_KEYS = new Set(['dir', 'mode', 'meta', 'cleanup'])

function checkName(name) {
  if (typeof name !== 'string') {
    throw new PidGuardError({
      code: 'EINVALIDNAME',
      message: `pid-guard: the guard name must be a string like "session-pool", not ${typeof name}`,
    })
  }
}

function checkDir(options) {
  const dir = options?.dir
  if (dir !== undefined && dir !== null && typeof dir !== 'string') {
    throw invalidOption(`options.dir must be a directory path string, not ${typeof dir}`)
  }
  return dir ?? undefined
}

function metaJson(meta, where) {
  if (meta === undefined || meta === null) return undefined
  if (typeof meta !== 'object' || Array.isArray(meta)) {
    throw invalidOption(`${where} must be a plain object like { port: 8080 }, not ${Array.isArray(meta) ? 'an array' : typeof meta}`)
  }
  try {
    return JSON.stringify(meta)
  } catch (err) {
    throw invalidOption(`${where} cannot be recorded as JSON: ${err.message}`)
  }
}

class Guard {
  #native
  #info
  #released = false

  constructor(native, cleanup) {
    this.#native = native
    this.#info = JSON.parse(native.info())
    hooks.track(this, cleanup)
  }

  get name() { return this.#info.name }
  get pid() { return this.#info.pid }
  get mode() { return this.#info.mode }
  get dir() { return this.#info.dir }
  get pidPath() { return this.#info.pidPath }
  get lockPath() { return this.#info.lockPath }
  get recordPath() { return this.#info.recordPath }
  /** What this acquire found left by holders that are gone, and removed. */
  get recovered() { return this.#info.recovered }
  get meta() { return this.#info.record.meta }
  get released() { return this.#released }

  /** Replaces the recorded meta (readers see the old or the new record, never a mix). */
  update(meta) {
    const json = metaJson(meta, 'meta') ?? '{}'
    call(() => this.#native.update(json))
    this.#info.record.meta = JSON.parse(json)
  }

  /** Removes the pid file and frees the lock. Safe to call more than once. */
  release() {
    if (this.#released) return
    this.#released = true
    hooks.untrack(this)
    call(() => this.#native.release())
  }

  [dispose]() {
    this.release()
  }

  toJSON() {
    const { name, pid, mode, dir, pidPath, lockPath, recordPath, recovered, meta, released } = this
    return { name, pid, mode, dir, pidPath, lockPath, recordPath, recovered, meta, released }
  }
}

function acquire(name, options = {}) {
  checkName(name)
  if (options === null || typeof options !== 'object') throw invalidOption('options must be an object')
  for (const k of Object.keys(options)) {
    if (!ACQUIRE_KEYS.has(k)) throw invalidOption(`unknown option "${k}" (known: ${[...ACQUIRE_KEYS].join(', ')})`)
  }
  const dir = checkDir(options)
  const mode = options.mode ?? 'exclusive'
  if (mode !== 'exclusive' && mode !== 'shared') {
    throw invalidOption(`options.mode must be 'exclusive' or 'shared', not ${JSON.stringify(mode)}`)
  }
  const cleanup = options.cleanup ?? true
  if (typeof cleanup !== 'boolean') throw invalidOption('options.cleanup must be true or false')
  const meta = metaJson(options.meta, 'options.meta')
  const native = call(() => binding.acquire(name, dir, mode, meta))
  return new Guard(native, cleanup)
}

function status(name, options = {}) {
  checkName(name)
  return normalizeStatus(JSON.parse(call(() => binding.status(name, checkDir(options)))))
}

function list(options = {}) {
  return JSON.parse(call(() => binding.list(checkDir(options)))).map(normalizeStatus)
}

module.exports = { acquire, status, list, Guard }
