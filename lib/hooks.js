'use strict'
// Keeps every unreleased guard alive (a guard dropped on the floor must not be released by the
// garbage collector) and releases them on exit and on SIGINT/SIGTERM/SIGHUP, without changing
// how the app reacts to those signals:
// - no handler of its own: we release, then re-raise, so the app still dies of the signal
//   (its parent sees SIGTERM, a shell sees 143);
// - its own handler: the app decides when to exit; we release on 'exit'. Releasing earlier would
//   let a new copy start while this one is still shutting down.

const SIGNALS = process.platform === 'win32' ? ['SIGINT', 'SIGTERM'] : ['SIGINT', 'SIGTERM', 'SIGHUP']

/** guard -> whether it is released on exit/signal (options.cleanup). */
const held = new Map()
let installed = false

function releaseAll() {
  for (const [guard, cleanup] of [...held]) {
    if (!cleanup) continue
    try {
      guard.release()
    } catch {
      // Exiting: nothing useful can be done with the error; the next acquire recovers.
    }
  }
}

function onSignal(signal) {
  if (process.listenerCount(signal) > 1) return
  releaseAll()
  uninstall()
  process.kill(process.pid, signal)
}

function install() {
  if (installed) return
  installed = true
  process.on('exit', releaseAll)
  for (const s of SIGNALS) process.on(s, onSignal)
}

function uninstall() {
  if (!installed) return
  installed = false
  process.removeListener('exit', releaseAll)
  for (const s of SIGNALS) process.removeListener(s, onSignal)
}

function track(guard, cleanup) {
  held.set(guard, cleanup)
  if (cleanup) install()
}

// The listeners stay once installed: with no guard held they only re-raise the signal (the
// default behaviour), and installing/removing four listeners per acquire cost more than the
// acquire itself.
function untrack(guard) {
  held.delete(guard)
}

module.exports = { track, untrack }
