'use strict'
// `pid-guard run <name> [options] -- <command...>`: acquire the guard, then run the command with
// the lock handed to it (like flock(1)): the pid file names the command's process, the lock lives
// as long as the command does (killing this wrapper does not free it), signals are forwarded and
// the command's exit code or signal becomes ours.

const { spawn } = require('node:child_process')
const { acquire, PidGuardError } = require('../..')
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

function run(argv) {
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

  let guard
  try {
    guard = acquire(name, options)
  } catch (err) {
    if (err instanceof PidGuardError && err.code === 'ELOCKED') {
      writeErr(`${err.message}\n`)
      return 1
    }
    throw err
  }

  return new Promise((resolve) => {
    const fd = guard._fd()
    const child = spawn(command[0], command.slice(1), {
      stdio: ['inherit', 'inherit', 'inherit', fd],
      env: { ...process.env, PID_GUARD_NAME: name, PID_GUARD_FD: '3' },
    })
    const forward = {}
    const stopForwarding = () => {
      for (const [s, fn] of Object.entries(forward)) process.removeListener(s, fn)
    }
    child.once('error', (err) => {
      stopForwarding()
      guard.release()
      writeErr(`pid-guard run: cannot start "${command[0]}": ${err.message}\n`)
      resolve(err.code === 'ENOENT' ? 127 : 126)
    })
    child.once('spawn', () => {
      try {
        guard._handOver(child.pid, command, 3)
      } catch (err) {
        // ENOTFOUND: the command already exited; its exit is reported below.
        if (err?.code !== 'ENOTFOUND') writeErr(`pid-guard run: ${err.message}\n`)
      }
      for (const s of FORWARD) {
        // A terminal already sends Ctrl-C to the whole foreground group, the command included.
        if (s === 'SIGINT' && process.stdin.isTTY) forward[s] = () => {}
        else forward[s] = () => child.kill(s)
        process.on(s, forward[s])
      }
    })
    child.once('exit', (code, signal) => {
      stopForwarding()
      guard.release()
      if (signal) {
        // Die of the same signal so our parent sees what the command did.
        process.kill(process.pid, signal)
        resolve(128 + (require('node:os').constants.signals[signal] ?? 0))
      } else {
        resolve(code ?? 1)
      }
    })
  })
}

module.exports = { summary: 'acquire <name>, then run a command holding it (pid file names the command)', usage, run }
