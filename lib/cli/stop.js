'use strict'
// `pid-guard stop <name> | --pid N`: stop a guard's verified holder.

const { stop } = require('../..')
const { writeOut, writeErr, parse, UsageError } = require('./output')

const usage = `Usage: pid-guard stop <name> [--signal SIG] [--timeout MS] [--force] [--json] [--dir DIR]
       pid-guard stop --pid N [--signal SIG] [--timeout MS] [--force] [--json]
       pid-guard stop --port N [--signal SIG] [--timeout MS] [--force] [--json] [--dir DIR]

Sends SIGTERM (or --signal) to the verified holder of <name> (or to pid N), waits up to
--timeout ms (default 10000) for it to exit, then SIGKILLs it with --force.
Only a process whose start time matches what it recorded is ever signalled. When the holder
of <name> is gone but processes it started still run (orphans: they carry its marker, the
variable PID_GUARD_HOLDER_<hash> a holder's children inherit, and run as its user in this
PID namespace), those are stopped; another user's or another namespace's are named, never
signalled. A port owner without the marker is stopped only with --force, whatever its
command line. --port N stops the holder (or the orphans) of the guard that recorded port N.
Exit 0 stopped, 1 still running or not verifiable, 3 not running.
`

async function run(argv) {
  const { values, positionals } = parse(argv, {
    pid: { type: 'string' },
    port: { type: 'string' },
    signal: { type: 'string' },
    timeout: { type: 'string' },
    force: { type: 'boolean' },
  })
  const given = [positionals.length > 0, values.pid !== undefined, values.port !== undefined].filter(Boolean).length
  if (given !== 1 || positionals.length > 1) throw new UsageError('expects one target: a guard name, --pid N or --port N')
  let target = positionals[0]
  if (values.port !== undefined) {
    const port = Number(values.port)
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port expects 1-65535, not "${values.port}"`)
    target = { port }
  }
  if (values.pid !== undefined) {
    const pid = Number(values.pid)
    if (!Number.isInteger(pid) || pid <= 0) throw new UsageError(`--pid expects a process id, not "${values.pid}"`)
    target = { pid }
  }
  const options = { dir: values.dir, signal: values.signal, force: values.force }
  if (values.timeout !== undefined) {
    const t = Number(values.timeout)
    if (!Number.isFinite(t) || t < 0) throw new UsageError(`--timeout expects milliseconds, not "${values.timeout}"`)
    options.timeoutMs = t
  }
  let report
  try {
    report = await stop(target, options)
  } catch (err) {
    if (err?.code === 'ENOTFOUND') {
      writeErr(`${err.message}\n`)
      return 3
    }
    if (err?.code === 'ENOTVERIFIED') {
      writeErr(`${err.message}\n`)
      return 1
    }
    throw err
  }
  if (values.json) writeOut(JSON.stringify(report, null, 2) + '\n')
  else {
    for (const n of report.notSignalled ?? []) writeErr(`pid ${n.pid} was not signalled: ${n.why}\n`)
    for (const s of report.stopped) {
      writeOut(
        s.exited
          ? `stopped pid ${s.pid} (${s.signals.join(' then ')}, ${s.waitedMs} ms)\n`
          : `pid ${s.pid} is still running after ${s.signals.join(' then ')} (${s.waitedMs} ms); use --force to SIGKILL it\n`,
      )
    }
  }
  return report.ok ? 0 : 1
}

module.exports = { summary: 'stop the verified holder of <name> (or --pid N): SIGTERM, wait, SIGKILL with --force', usage, run }
