'use strict'
// Keeps every unreleased guard alive (a guard dropped on the floor must not be released by the
// garbage collector) and releases them on exit and on SIGINT/SIGTERM/SIGHUP, without changing
// how the app reacts to those signals:
// - nothing else wants the signal: we release, then the process dies of it (its parent sees
//   SIGTERM, a shell sees 143);
// - the app has a handler of its own: the app decides when to exit; we release on 'exit'.
//   Releasing earlier would let a new copy start while this one is still shutting down.
//
// Who "wants" a signal is decided from the listeners present when the signal is emitted, before
// any of them ran: our listener is kept first (prepended, and moved back to the front when
// another listener is prepended), so an app's `once` handler, or one that removes itself, is
// still counted although Node removes it before calling it.
//
// signal-exit (3 and 4, loaded by execa, write-file-atomic, proper-lockfile...) follows the same
// rule by counting: it acts only when every listener of the signal is one of its own. Its
// listeners do not count as "wanting" the signal: with nothing but signal-exit left, we remove our
// signal listeners and let signal-exit (which runs after us in the same emit, and now sees only
// its own listeners) run its exit callbacks. It re-raises unless a callback returns true to keep
// the process running: the guards are released at that re-raise (process.kill is watched for the
// rest of the emit), and kept if the process goes on running. Without signal-exit, or if one of
// its listeners already ran before ours, we release and re-raise ourselves.

const SIGNALS = process.platform === 'win32' ? ['SIGINT', 'SIGTERM'] : ['SIGINT', 'SIGTERM', 'SIGHUP']

// Marks the signal listener of every loaded copy of pid-guard (two versions in one node_modules
// tree are routine): another copy's listener is not the app wanting the signal, and the copies
// never fight over which one goes first.
const HOOK = Symbol.for('pid-guard.signal-hook')
const isHook = (fn) => typeof fn === 'function' && fn[HOOK] === true

/** guard -> whether it is released on exit/signal (options.cleanup). */
const held = new Map()
let installed = false
let installedSignals = false

function releaseAll() {
  for (const [guard, cleanup] of [...held]) {
    if (!cleanup) continue
    try {
      // At exit: what this holder started and leaves running is noted as its orphans.
      guard._releaseAtExit()
    } catch {
      // Exiting: nothing useful can be done with the error; the next acquire recovers.
    }
  }
}

/** How many signal listeners belong to loaded copies of signal-exit 3 and 4 (one per signal each). */
function signalExitListeners() {
  let n = 0
  const v3 = process.__signal_exit_emitter__
  if (v3 && typeof v3 === 'object' && typeof v3.count === 'number') n += v3.count
  const v4 = globalThis[Symbol.for('signal-exit emitter')]
  if (v4 && typeof v4 === 'object' && typeof v4.count === 'number') n += v4.count
  return n
}

function onSignal(signal) {
  const listeners = process.listeners(signal)
  const mine = listeners.indexOf(onSignal)
  const hooks = listeners.filter(isHook).length
  const others = listeners.length - hooks - signalExitListeners()
  if (others > 0) return // the app handles it; we release on 'exit'
  const seLeft = mine === 0 && hooks === 1 && listeners.length > 1 && listeners.length - 1 === signalExitListeners()
  removeSignalListeners()
  if (seLeft) {
    // Only signal-exit listeners are left in this emit. They run its exit callbacks and re-raise,
    // unless a callback returns true to keep the process running. Releasing now would let a
    // second copy start beside a process that goes on running: release when signal-exit really
    // re-raises (or the process exits), and keep the guard if the process survives the emit.
    releaseOnReraise()
    return
  }
  releaseAll()
  process.kill(process.pid, signal)
  // The kernel never delivers a default-action signal to PID 1 of a namespace (a container's
  // main process): the re-raise did nothing. Exit as a shell would report the signal rather than
  // go on running without the guard beside a second copy.
  if (process.pid === 1) process.exit(128 + (require('node:os').constants.signals[signal] ?? 0))
}
onSignal[HOOK] = true

/**
 * Releases the guards when signal-exit re-raises the signal at this process (its last step before
 * the process dies of it), during the current emit only. If nothing re-raised by the end of the
 * emit, the process goes on running with its guards held, and our listeners come back.
 */
function releaseOnReraise() {
  const kill = process.kill
  let settled = false
  const restore = () => {
    settled = true
    if (process.kill === reraise) process.kill = kill
  }
  function reraise(pid, sig, ...rest) {
    if (!settled && Number(pid) === process.pid) {
      restore()
      releaseAll()
    }
    return kill.call(process, pid, sig, ...rest)
  }
  process.kill = reraise
  // Signal listeners run synchronously in one emit: a microtask runs after all of them.
  queueMicrotask(() => {
    if (settled) return
    restore()
    for (const s of SIGNALS) process.prependListener(s, onSignal)
    installedSignals = true
  })
}

/** Keeps onSignal the first listener of each signal (see the header). */
let reorderQueued = false
function keepFirst() {
  reorderQueued = false
  if (!installedSignals) return
  for (const s of SIGNALS) {
    const ls = process.listeners(s)
    // Ours must run before every app listener; before or after another copy's hook does not
    // matter (and moving over one would start a chase between the copies).
    const firstApp = ls.findIndex((fn) => !isHook(fn))
    if (firstApp !== -1 && ls.indexOf(onSignal) > firstApp) {
      // Never the last listener at this point: removing ours keeps the signal handled.
      process.removeListener(s, onSignal)
      process.prependListener(s, onSignal)
    }
  }
}

function onNewListener(event, fn) {
  if (isHook(fn) || !SIGNALS.includes(event) || reorderQueued) return
  // 'newListener' fires before the listener is added: reorder right after, before any signal
  // can be delivered (signals arrive as macrotasks).
  reorderQueued = true
  queueMicrotask(keepFirst)
}

function install() {
  if (installed) return
  installed = true
  process.on('exit', releaseAll)
  for (const s of SIGNALS) process.prependListener(s, onSignal)
  installedSignals = true
  process.on('newListener', onNewListener)
}

/** Our signal listeners go; 'exit' stays, so a process.exit() from a later listener still releases. */
function removeSignalListeners() {
  if (!installedSignals) return
  installedSignals = false
  for (const s of SIGNALS) process.removeListener(s, onSignal)
}

function track(guard, cleanup) {
  held.set(guard, cleanup)
  if (cleanup) install()
}

// The listeners stay once installed: with no guard held they only re-raise the signal (the
// default behaviour), and installing/removing the listeners per acquire cost more than the
// acquire itself.
function untrack(guard) {
  held.delete(guard)
}

module.exports = { track, untrack }
