'use strict'
// `pid-guard prune [--json] [--dir DIR]`: removes the leftover files of guards nothing holds.

const { writeOut, writeErr, parse, UsageError, dim } = require('./output')

const usage = `Usage: pid-guard prune [--json] [--dir DIR]

Removes what guards that nothing holds left in the directory: the lock file a released
guard keeps (its last holder's record), the pid file of a holder that is gone, the files of
shared holders that are gone. Never the files of a held or orphaned guard, nor of a stale
one whose recorded port something still listens on (see pid-guard status NAME). Each guard
is locked without waiting before its files go, as acquire does: one that is taken meanwhile
is kept.

Exit status: 0 done (also when nothing was left over), 1 some guard's files could not be
removed (the message says why), 2 usage error.
`

function human(r) {
  const lines = []
  for (const x of r.removed) lines.push(`removed ${x.name} (${x.state}): ${x.removed.join(', ') || 'nothing left'}`)
  for (const x of r.kept) lines.push(dim(`kept ${x.name}: ${x.reason}`))
  for (const x of r.errors) lines.push(`failed ${x.name}: ${x.error.message.replace(/^pid-guard: /, '')}`)
  if (!lines.length) lines.push(`no guards in ${r.dir}`)
  return lines.join('\n') + '\n'
}

function run(argv) {
  const { values, positionals } = parse(argv)
  if (positionals.length) throw new UsageError('takes no arguments: it prunes every guard in the directory')
  const { binding, call } = require('../native')
  const report = JSON.parse(call(() => binding.prune(values.dir ?? null)))
  writeOut(values.json ? JSON.stringify(report, null, 2) + '\n' : human(report))
  if (report.errors.length && values.json) for (const x of report.errors) writeErr(`${x.error.message}\n`)
  return report.errors.length ? 1 : 0
}

module.exports = { summary: 'remove the leftover files of guards nothing holds (never a held one\'s)', usage, run }
