'use strict'
// The table, the ratios against pid-guard, the targets, and benchmark/RESULTS.md.

const fs = require('node:fs')
const path = require('node:path')

const REFERENCE = 'pid-guard'
const FLOOR_MAX = 2 // pid-guard at most 2x the syscall floor
const PROPER_MIN = 2.5 // and at least 2.5x faster than proper-lockfile lockSync

const byKey = (results, key) => results.find((r) => r.key === key)

/** Adds `vsPidGuard` (this row's time / pid-guard's time) to every row. */
function withRatios(results) {
  const ref = byKey(results, REFERENCE)
  return results.map((r) => ({ ...r, vsPidGuard: ref ? r.usPerOp / ref.usPerOp : null }))
}

/** a's time / b's time in each round (the rounds ran side by side, so under the same load). */
function perRound(a, b) {
  const r = a.rounds.map((t, i) => t / b.rounds[i])
  const best = a.min / b.min
  return `per round ${Math.min(...r).toFixed(2)}-${Math.max(...r).toFixed(2)}x, fastest rounds ${best.toFixed(2)}x`
}

function targets(results) {
  const floor = byKey(results, 'floor')
  const proper = byKey(results, 'proper-lockfile')
  const out = []
  for (const key of [REFERENCE, 'pid-guard-nocleanup']) {
    const pg = byKey(results, key)
    if (!pg) continue
    if (floor) {
      const ratio = pg.usPerOp / floor.usPerOp
      out.push({
        target: `${key} <= ${FLOOR_MAX}x the syscall floor`,
        measured: `${ratio.toFixed(2)}x (${fmt(pg.usPerOp)} vs ${fmt(floor.usPerOp)} us; ${perRound(pg, floor)})`,
        ratio,
        pass: ratio <= FLOOR_MAX,
      })
    }
    if (proper) {
      const ratio = proper.usPerOp / pg.usPerOp
      out.push({
        target: `${key} >= ${PROPER_MIN}x faster than proper-lockfile lockSync`,
        measured: `${ratio.toFixed(2)}x faster (${fmt(pg.usPerOp)} vs ${fmt(proper.usPerOp)} us; ${perRound(proper, pg)})`,
        ratio,
        pass: ratio >= PROPER_MIN,
      })
    }
  }
  return out
}

function fmt(us) {
  return us >= 100 ? us.toFixed(0) : us.toFixed(1)
}

function ratioText(r) {
  if (r.vsPidGuard == null) return '-'
  if (r.key === REFERENCE) return '1.00x'
  return `${r.vsPidGuard.toFixed(2)}x`
}

function tableRows(results) {
  return results.map((r) => [r.label, fmt(r.usPerOp), `${fmt(r.min)}-${fmt(r.max)}`, ratioText(r)])
}

const HEAD = ['contender', 'us/op (median)', 'range of rounds', 'time vs pid-guard']

function textTable(results) {
  const rows = [HEAD, ...tableRows(results)]
  const widths = HEAD.map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n')
}

function markdownTable(results) {
  const rows = tableRows(results)
  return [
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n')
}

function targetLines(ts) {
  return ts.map((t) => `${t.pass ? 'PASS' : 'FAIL'}  ${t.target}: ${t.measured}`)
}

function breakdownLines(b) {
  if (!b) return []
  const w = Math.max(...b.steps.map((s) => s.step.length))
  return [
    '',
    `pid-guard's ${b.syscalls} syscalls per cycle, replayed in Rust (median us each; sum ${b.sumOfMediansUs.toFixed(1)} us, mean-sum ${b.sumOfMeansUs.toFixed(1)} us):`,
    ...b.steps.map((s) => `  ${s.step.padEnd(w)}  ${s.medianUs.toFixed(2).padStart(7)}`),
  ]
}

function text({ machine, config, results, targets: ts, breakdown }) {
  return [
    `pid-guard acquire + release benchmark: ${config.rounds} rounds x ${config.iterations} iterations ` +
      `(after ${config.warmup} warm-up), median round per op, in ${config.dir} (${machine.filesystem})`,
    `${machine.nproc} cpus, load ${machine.loadavg}, node ${machine.node}, ${machine.rust}`,
    '',
    textTable(results),
    '',
    ...targetLines(ts),
    ...breakdownLines(breakdown),
  ].join('\n')
}

function markdown({ machine, config, results, targets: ts }) {
  return `# Benchmark results: acquire + release

Measured by \`npm run bench\` (\`node benchmark/acquire.js\`) on ${machine.date.slice(0, 10)}.
What is measured and how: [README.md](README.md).

- Machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.os}, load average at the end ${machine.loadavg}
- Directory: \`${config.dir}\` under \`${machine.tmpdir}\`, filesystem **${machine.filesystem}**
- Node ${machine.node}, ${machine.rust}
- ${config.rounds} rounds x ${config.iterations} iterations per contender, rounds interleaved across contenders,
  after ${config.warmup} warm-up cycles; the figure is the median round, the range is the fastest and
  slowest round.

${markdownTable(results)}

"time vs pid-guard" is this row's time divided by pid-guard's (default options): above 1 is slower than
pid-guard, below 1 is faster.

## Targets

${targetLines(ts)
  .map((l) => `- ${l}`)
  .join('\n')}

## What each cycle does

${results.map((r) => `- **${r.label}**: ${r.does}`).join('\n')}
`
}

function writeResults(report, file = path.join(__dirname, '..', 'RESULTS.md')) {
  fs.writeFileSync(file, markdown(report))
  return file
}

module.exports = { withRatios, targets, text, markdown, writeResults }
