'use strict'
// `pid-guard list [--json]`: a table of every guard in the directory.

const { list } = require('../..')
const { writeOut, parse, UsageError, duration } = require('./output')

const usage = `Usage: pid-guard list [--json] [--dir DIR]

A table of every guard in the directory: name, state, pid, mode, uptime, port.
A guard whose files cannot be trusted (a FIFO, directory or link at one of its paths)
is listed as 'unsafe', with what was found and where below the table.
`

function rows(statuses) {
  const head = ['NAME', 'STATE', 'PID', 'MODE', 'UPTIME', 'PORT']
  const body = statuses.map((s) => {
    const live = s.holders.filter((h) => h.alive)
    const h = live[0] ?? s.holders[0]
    const port = h?.meta?.port ?? ''
    return [
      s.name,
      s.state,
      live.length > 1 ? live.map((x) => x.pid).join(',') : String(h?.pid ?? ''),
      s.mode ?? '',
      h?.startedAt && s.state === 'held' ? duration(Date.now() - h.startedAt) : '',
      String(port),
    ]
  })
  const all = [head, ...body]
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i].length)))
  const table = all.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n'
  // An odd entry at a guard's paths (state 'unsafe', or something ignored): say what and where.
  const notes = statuses.filter((s) => s.problem).map((s) => `${s.name}: ${s.problem.message.replace(/^pid-guard: /, '')}\n`)
  return notes.length ? `${table}\n${notes.join('')}` : table
}

function run(argv) {
  const { values, positionals } = parse(argv, {}, false)
  if (positionals.length) throw new UsageError('takes no arguments')
  const result = list({ dir: values.dir })
  writeOut(values.json ? JSON.stringify(result, null, 2) + '\n' : rows(result))
  return 0
}

module.exports = { summary: 'every guard in the directory, as a table', usage, run }
