'use strict'
// acquire / status / list: argument checks and the Guard object over the native handle.

const { binding, call, callAsync, normalizeStatus } = require('./native')
const { PidGuardError, invalidOption } = require('./errors')
const hooks = require('./hooks')

const dispose = Symbol.dispose ?? Symbol.for('nodejs.dispose')
const inspectCustom = Symbol.for('nodejs.util.inspect.custom')
const ACQUIRE_KEYS = new Set(['dir', 'mode', 'meta', 'cleanup', 'onConflict', 'timeoutMs', 'graceMs', 'takeoverSignal', 'signal'])

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

// The holder's marker (see src/marker.rs): PID_GUARD_HOLDER_<hash>=pid=.. start=.. guard=..,
// set in process.env (Node calls setenv) so every child spawned after acquire inherits it, and
// removed on release so later children are not marked. Counted per variable: two guards of one
// guard name in one process (shared mode) share it.
const markers = new Map()

function mark(native) {
  const m = native.marker()
  if (!m) return null
  const [key, value] = m
  const e = markers.get(key)
  if (e && e.value === value) e.count++
  else markers.set(key, { value, count: 1 })
  process.env[key] = value
  return m
}

function unmark(m) {
  if (!m) return
  const [key, value] = m
  const e = markers.get(key)
  if (!e || e.value !== value) return
  if (--e.count > 0) return
  markers.delete(key)
  if (process.env[key] === value) delete process.env[key]
}

class Guard {
  #native
  #info
  #released = false
  #marker

  constructor(native, cleanup) {
    this.#native = native
    // The guard `pid-guard run` passed this process (its fd 3) was adopted: the variable that
    // announced it is not for this process's children (see src/adopt.rs).
    if (native.adopted()) delete process.env.PID_GUARD_FD
    this.#marker = mark(native)
    hooks.track(this, cleanup)
  }

  /** The guard's details, fetched from the addon on first use (most callers never ask). */
  get #data() {
    this.#info ??= JSON.parse(this.#native.info())
    return this.#info
  }

  get name() { return this.#data.name }
  get pid() { return this.#data.pid }
  get mode() { return this.#data.mode }
  get dir() { return this.#data.dir }
  get pidPath() { return this.#data.pidPath }
  get lockPath() { return this.#data.lockPath }
  get recordPath() { return this.#data.recordPath }
  /** What this acquire found left by holders that are gone, and removed. */
  get recovered() { return this.#data.recovered }
  get meta() { return this.#data.record.meta }
  get released() { return this.#released }

  /** Replaces the recorded meta (a reader that catches the write half-done reads again). */
  update(meta) {
    const json = metaJson(meta, 'meta') ?? '{}'
    call(() => this.#native.update(json))
    this.#data.record.meta = JSON.parse(json)
  }

  /** Removes the pid file and frees the lock. Safe to call more than once. */
  release() {
    this.#finish((n) => n.release())
  }

  /**
   * @internal Release on exit (the cleanup hooks, `pid-guard run` when its command is gone):
   * processes this holder started that still run are noted in the record first, so status sees
   * them as its orphans once this process is gone.
   */
  _releaseAtExit() {
    this.#finish((n) => n.releaseAtExit())
  }

  /** Once: no longer tracked, the marker off the environment, then the native release. */
  #finish(releaseNative) {
    if (this.#released) return
    this.#released = true
    hooks.untrack(this)
    unmark(this.#marker)
    call(() => releaseNative(this.#native))
  }

  [dispose]() {
    this.release()
  }

  toJSON() {
    const { name, pid, mode, dir, pidPath, lockPath, recordPath, recovered, meta, released } = this
    return { name, pid, mode, dir, pidPath, lockPath, recordPath, recovered, meta, released }
  }

  /** `console.log(guard)`: what it is and where its files are, not `Guard {}`. */
  [inspectCustom](depth, options, inspect) {
    const { name, pid, mode, pidPath, lockPath, recordPath, meta, released } = this
    const shown = { name, pid, mode, released, pidPath, lockPath, recordPath, meta }
    if (depth < 0) return `Guard <${name}>`
    return `Guard ${inspect(shown, { ...options, depth: options.depth === null ? null : options.depth - 1 })}`
  }
}

/** Checks acquire options in JS (clear messages) and builds what the addon takes. */
function acquireArgs(name, options, isAsync) {
  checkName(name)
  if (options === null || typeof options !== 'object') throw invalidOption('options must be an object')
  for (const k of Object.keys(options)) {
    if (!ACQUIRE_KEYS.has(k)) throw invalidOption(`unknown option "${k}" (known: ${[...ACQUIRE_KEYS].join(', ')})`)
  }
  const mode = options.mode ?? 'exclusive'
  if (mode !== 'exclusive' && mode !== 'shared') {
    throw invalidOption(`options.mode must be 'exclusive' or 'shared', not ${JSON.stringify(mode)}`)
  }
  const cleanup = options.cleanup ?? true
  if (typeof cleanup !== 'boolean') throw invalidOption('options.cleanup must be true or false')
  const onConflict = options.onConflict ?? 'fail'
  if (!['fail', 'wait', 'takeover'].includes(onConflict)) {
    throw invalidOption(`options.onConflict must be 'fail', 'wait' or 'takeover', not ${JSON.stringify(onConflict)}`)
  }
  for (const k of ['timeoutMs', 'graceMs']) {
    const v = options[k]
    if (v !== undefined && (typeof v !== 'number' || !(v >= 0))) throw invalidOption(`options.${k} must be a number of milliseconds >= 0`)
  }
  if (options.takeoverSignal !== undefined && typeof options.takeoverSignal !== 'string') {
    throw invalidOption("options.takeoverSignal must be a signal name like 'SIGTERM'")
  }
  if (options.signal !== undefined && !isAsync) {
    throw invalidOption('options.signal (an AbortSignal) is for acquireAsync; acquire is synchronous')
  }
  const meta = metaJson(options.meta, 'options.meta')
  const args = {
    dir: checkDir(options),
    mode,
    meta: meta === undefined ? undefined : JSON.parse(meta),
    onConflict,
    timeoutMs: options.timeoutMs,
    graceMs: options.graceMs,
    takeoverSignal: options.takeoverSignal,
  }
  return { json: JSON.stringify(args), cleanup }
}

function acquire(name, options = {}) {
  const { json, cleanup } = acquireArgs(name, options, false)
  const native = call(() => binding.acquire(name, json))
  return new Guard(native, cleanup)
}

/**
 * acquire() off the main thread: waiting and takeover never block the event loop.
 * `options.signal` (an AbortSignal) aborts a wait with EABORTED.
 */
async function acquireAsync(name, options = {}) {
  const { json, cleanup } = acquireArgs(name, options, true)
  const signal = options.signal
  if (signal !== undefined && (typeof signal !== 'object' || typeof signal.aborted !== 'boolean')) {
    throw invalidOption('options.signal must be an AbortSignal')
  }
  const aborted = () =>
    new PidGuardError({ code: 'EABORTED', message: `pid-guard: waiting for "${name}" was aborted` })
  if (signal?.aborted) throw aborted()
  const cancel = new binding.NativeCancel()
  const onAbort = () => cancel.cancel()
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    // A wait or a takeover runs on a thread of its own, not in the libuv pool it could block.
    const start = options.onConflict === 'wait' || options.onConflict === 'takeover' ? binding.acquireWaiting : binding.acquireAsync
    const native = await callAsync(() => start(name, json, cancel))
    if (signal?.aborted) {
      // Won the race with the abort: give the lock back rather than hand over a guard the
      // caller no longer wants.
      native.release()
      throw aborted()
    }
    return new Guard(native, cleanup)
  } finally {
    signal?.removeEventListener('abort', onAbort)
  }
}

function status(name, options = {}) {
  checkName(name)
  return normalizeStatus(JSON.parse(call(() => binding.status(name, checkDir(options)))))
}

function list(options = {}) {
  return JSON.parse(call(() => binding.list(checkDir(options)))).map(normalizeStatus)
}

module.exports = { acquire, acquireAsync, status, list, Guard, metaJson }
