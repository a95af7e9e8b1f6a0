'use strict'
// `pid-guard run <name> [options] -- <command...>`: acquire the guard, then run the command with
// the lock handed to it (like flock(1)): the pid file names the command's process, the lock lives
// as long as the command does (killing this wrapper does not free it), signals are forwarded and
// the command's exit code or signal becomes ours.
//
// Who gets a signal (issue 10, item 10):
// - From the moment the guard is won, the record names this wrapper until the command is
//   started and the record handed over to it. A stop in that window reaches the wrapper, so the
//   listeners are in place before acquiring (acquireAsync keeps the event loop free, so a
//   signal during --wait aborts the wait), and the handover happens in the same tick as the
//   spawn. A signal before the command exists: release, do not start it, die of the signal.
//   After: forward it, and exit with the command's fate (same code, or die of the same signal).
// - A signal sent to a whole process group (`kill -- -PGID`, a shell job) must reach the
//   command once, not once directly and again through us. Off a terminal the command gets its
//   own session and process group, so a group signal meant for us reaches it only through us.
//   On a terminal it stays in our (foreground) group, so it can use the terminal; there the
//   signals a terminal or shell sends to the whole group (SIGINT, SIGQUIT, SIGHUP) reach it
//   directly and are not forwarded, and the others (SIGTERM, SIGUSR1/2) are, as they are sent to
//   a pid. A signal cannot tell us how it was sent, so a SIGTERM sent to every process one by
//   one (systemd's KillMode=control-group) would reach the command twice: use KillMode=mixed.

const { spawn } = require('node:child_process')
const { acquireAsync, PidGuardError } = require('../..')
const { writeErr, parse, UsageError } = require('./output')

const usage = `Usage: pid-guard run <name> [options] -- <command> [args...]

Acquires the guard <name>, then runs <command> holding it. The pid file names the
command's process, so \`kill $(cat pidfile)\` and \`pid-guard stop <name>\` reach the
service itself. Exit code (or signal) is the command's.

Options:
  --mode exclusive|shared   default exclusive
  --wait[=MS]               wait for the current holder to let go (forever, or MS)
  --takeover[=GRACE_MS]     SIGTERM the verified current holder, SIGKILL after GRACE_MS (default 5000)
  --port N                  recorded for health checks
  --url URL                 recorded for health checks (e.g. http://127.0.0.1:8080/health)
  --meta key=value          recorded too (repeatable)
  --dir DIR                 guard directory (default: PID_GUARD_DIR, XDG_RUNTIME_DIR/pid-guard, tmp)
`

// Signals a service manager or a person sends; forwarded to the command.
const FORWARD = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'].filter(
  (s) => process.platform !== 'win32' || s === 'SIGINT' || s === 'SIGTERM',
)
// Sent by a terminal (Ctrl-C, Ctrl-\, hangup) to its whole foreground group, the command included.
const TERMINAL_GROUP = new Set(['SIGINT', 'SIGQUIT', 'SIGHUP'])

function splitCommand(argv) {
  const i = argv.indexOf('--')
  if (i === -1) throw new UsageError('expects the command after "--", e.g. pid-guard run web -- node server.js')
  const command = argv.slice(i + 1)
  if (command.length === 0) throw new UsageError('no command after "--"')
  // --wait and --takeover take an optional value: give the bare flags an empty one.
  const opts = argv.slice(0, i).map((a) => (a === '--wait' || a === '--takeover' ? `${a}=` : a))
  return { opts, command }
}

function optionsFrom(values) {
  const meta = {}
  for (const kv of values.meta ?? []) {
    const eq = kv.indexOf('=')
    if (eq <= 0) throw new UsageError(`--meta expects key=value, not "${kv}"`)
    meta[kv.slice(0, eq)] = kv.slice(eq + 1)
  }
  if (values.port !== undefined) {
    const port = Number(values.port)
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port expects 1-65535, not "${values.port}"`)
    meta.port = port
  }
  if (values.url !== undefined) meta.url = values.url
  const o = { dir: values.dir, mode: values.mode ?? 'exclusive', meta, cleanup: false }
  if (values.wait !== undefined && values.takeover !== undefined) throw new UsageError('--wait and --takeover exclude each other')
  const ms = (v, flag) => {
    if (v === '') return undefined
    const n = Number(v)
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag} expects milliseconds, not "${v}"`)
    return n
  }
  if (values.wait !== undefined) Object.assign(o, { onConflict: 'wait', timeoutMs: ms(values.wait, '--wait') })
  if (values.takeover !== undefined) Object.assign(o, { onConflict: 'takeover', graceMs: ms(values.takeover, '--takeover') })
  return o
}

async function run(argv) {
  const { opts, command } = splitCommand(argv)
  const { values, positionals } = parse(opts, {
    mode: { type: 'string' },
    wait: { type: 'string' },
    takeover: { type: 'string' },
    port: { type: 'string' },
    url: { type: 'string' },
    meta: { type: 'string', multiple: true },
  })
  if (positionals.length !== 1) throw new UsageError('expects exactly one guard name before "--"')
  const [name] = positionals
  const options = optionsFrom(values)
  options.meta.command = command.join(' ')

  // Listening from before the guard is won (see the top).
  const onTerminal = Boolean(process.stdin.isTTY)
  let guard
  let child
  let received
  const abort = new AbortController()
  const forward = {}
  for (const s of FORWARD) {
    forward[s] = () => {
      if (child === undefined) {
        // No command yet (acquiring, or waiting with --wait): it will not be started, and we
        // die of this signal, Ctrl-C included.
        received ??= s
        abort.abort()
      } else if (onTerminal && TERMINAL_GROUP.has(s)) {
        // The terminal sent it to the command as well.
      } else if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        child.kill(s)
      }
    }
    process.on(s, forward[s])
  }
  const stopForwarding = () => {
    for (const [s, fn] of Object.entries(forward)) process.removeListener(s, fn)
  }
  /** Releases and exits as the command did: the same signal (so our parent sees it) or code. */
  const exitAs = (code, signal) => {
    stopForwarding()
    // The command is gone: what it started and left running becomes its orphans.
    guard?._releaseAtExit()
    if (signal) {
      process.kill(process.pid, signal)
      return 128 + (require('node:os').constants.signals[signal] ?? 0)
    }
    return code
  }

  try {
    guard = await acquireAsync(name, { ...options, signal: abort.signal })
  } catch (err) {
    if (received) return exitAs(1, received) // a signal came while acquiring or waiting
    stopForwarding()
    if (err instanceof PidGuardError && err.code === 'ELOCKED') {
      writeErr(`${err.message}\n`)
      return 1
    }
    throw err
  }

  return new Promise((resolve) => {
    // The listeners run between ticks: none has run since acquireAsync resolved, so `received`
    // is still unset and the command is spawned and handed the record in this one tick.
    // Windows: the lock is a handle, not an fd a child can inherit through spawn, so this
    // wrapper keeps holding it while the record names the command (a stop reaches the command,
    // whose exit releases the guard); Node's job object ends the command with the wrapper.
    // The native `pid-guard run` execs the command (crates/cli/src/run.rs); this reference
    // version, deleted with the JS CLI, keeps the lock in the wrapper (the hand-over is gone).
    const fd = -1
    const handed = false
    child = spawn(command[0], command.slice(1), {
      stdio: handed ? ['inherit', 'inherit', 'inherit', fd] : 'inherit',
      env: handed ? { ...process.env, PID_GUARD_NAME: name, PID_GUARD_FD: '3' } : { ...process.env, PID_GUARD_NAME: name },
      // Its own session and process group off a terminal (Unix): see the top.
      detached: process.platform !== 'win32' && !onTerminal,
    })
    child.on('error', (err) => {
      if (child.pid !== undefined) return // a failed kill(); the exit event follows
      writeErr(`pid-guard run: cannot start "${command[0]}": ${err.message}\n`)
      // A signal that came while starting is still ours to die of.
      resolve(exitAs(err.code === 'ENOENT' ? 127 : 126, received))
    })
    child.once('exit', (code, signal) => resolve(exitAs(code ?? 1, signal)))
  })
}

module.exports = { summary: 'acquire <name>, then run a command holding it (pid file names the command)', usage, run }
