'use strict'
// `pid-guard status [name] [--json]`: who holds a guard (all guards without a name).

const { status, list } = require('../..')
const { writeOut, parse, UsageError, duration, green, yellow, dim } = require('./output')

const usage = `Usage: pid-guard status [name] [--json] [--dir DIR]

Shows who holds the guard <name> (every guard in the directory without a name),
without taking the lock or touching any file. Exit 0 when held, 3 when free, stale or orphaned.
Orphaned: the holder is gone, but processes it started (they carry its marker, the variable
PID_GUARD_HOLDER_<hash> every child of a holder inherits) still run; each is named, with how
to stop it.
`

/** "orphan: pid 12 (node server.js), port 8080; stop it with `pid-guard stop web`". */
function orphanLine(o, name) {
  const cmd = o.cmdline?.length ? o.cmdline.join(' ') : (o.exe ?? 'command unknown')
  const ports = o.ports === null ? ', sockets unknown' : o.ports.length ? `, port ${o.ports.join(', ')}` : ''
  const verdict = o.verified ? `stop it with \`pid-guard stop ${name}\`` : `not verified, not signalled: ${o.problem}`
  return `orphan: pid ${o.pid} (${cmd})${ports}; ${verdict}`
}

function describe(s) {
  const lines = []
  const state = s.state === 'held' ? green('held') : ['stale', 'unsafe', 'orphaned'].includes(s.state) ? yellow(s.state) : dim(s.state)
  lines.push(`${s.name}: ${state}${s.mode ? ` (${s.mode})` : ''}`)
  for (const h of s.holders) {
    const started = h.startedAt ? `, up ${duration(Date.now() - h.startedAt)}` : ''
    const alive = h.alive ? '' : ' (not running)'
    const meta = h.meta && Object.keys(h.meta).length ? ` ${JSON.stringify(h.meta)}` : ''
    const uid = h.uid != null && h.uid !== process.getuid?.() ? `, uid ${h.uid}` : ''
    // A busy lock with no visible holder: another user's process, or another PID namespace.
    if (h.pid == null && s.state === 'held') lines.push(`  held by a process this user cannot see${uid}`)
    else lines.push(`  pid ${h.pid ?? 'unknown'}${alive}${started}${uid}${meta}`)
  }
  if (s.staleReason) lines.push(`  ${s.state === 'orphaned' ? 'orphaned' : 'stale'}: ${s.staleReason}`)
  for (const o of s.orphans ?? []) lines.push(`  ${orphanLine(o, s.name)}`)
  if (s.problem) lines.push(`  ${s.state === 'unsafe' ? 'unsafe' : 'ignored'}: ${s.problem.message.replace(/^pid-guard: /, '')}`)
  lines.push(`  pid file: ${s.pidFile.path}${s.pidFile.problem ? ` (${s.pidFile.problem})` : ''}`)
  return lines.join('\n') + '\n'
}

function run(argv) {
  const { values, positionals } = parse(argv)
  if (positionals.length > 1) throw new UsageError('expects at most one guard name')
  const result = positionals.length ? status(positionals[0], { dir: values.dir }) : list({ dir: values.dir })
  if (values.json) writeOut(JSON.stringify(result, null, 2) + '\n')
  else if (Array.isArray(result)) writeOut(result.length ? result.map(describe).join('') : 'no guards\n')
  else writeOut(describe(result))
  if (Array.isArray(result)) return 0
  return result.state === 'held' ? 0 : 3
}

module.exports = { summary: 'who holds a guard, read-only (exit 0 held, 3 otherwise)', usage, run, describe, orphanLine }
