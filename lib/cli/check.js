'use strict'
// `pid-guard check <name>`: the fast fail for npm `prestart`. Exit 0 when the guard is free (a
// stale one is cleaned, and said in one line), 1 with the holder and how to stop it when held.

const { acquire, status, PidGuardError } = require('../..')
const { writeOut, writeErr, parse, UsageError } = require('./output')
const { orphanLine } = require('./status')

const usage = `Usage: pid-guard check <name> [--dir DIR]

Exits 0 if no process holds the guard <name> (cleaning files a dead holder left),
1 if one does, or if a dead holder's orphans still run (processes it started, carrying its
marker: printing each pid and how to stop it, \`pid-guard stop <name>\`). For npm "prestart".
This is a quick check, not the exclusion itself: the service still calls acquire(),
or is started with \`pid-guard run\`.
`

function run(argv) {
  const { values, positionals } = parse(argv)
  if (positionals.length !== 1) throw new UsageError('expects exactly one guard name')
  const [name] = positionals
  let guard
  try {
    guard = acquire(name, { dir: values.dir, cleanup: false })
  } catch (err) {
    if (err instanceof PidGuardError && err.code === 'ELOCKED') {
      writeErr(`${err.message}\n`)
      return 1
    }
    // A directory this user may read but not write in (another user's service directory,
    // inspected by root): answer from status, without cleaning anything.
    if (err instanceof PidGuardError && err.code === 'EUNSAFEDIR') return readOnly(name, values.dir, err)
    throw err
  }
  const recovered = guard.recovered
  guard.release()
  let code = 0
  for (const r of recovered) {
    if (r.orphans?.length) {
      // The holder is gone but what it started still runs (the record keeps naming them).
      writeErr(`pid-guard: "${name}" is not held, but ${r.reason}\n`)
      for (const o of r.orphans.filter((x) => !x.verified)) writeErr(`  ${orphanLine(o, name)}\n`)
      code = 1
    } else writeOut(`pid-guard: "${name}" was stale (${r.reason}); cleaned ${r.removed.join(', ')}\n`)
  }
  return code
}

function readOnly(name, dir, why) {
  let st
  try {
    st = status(name, { dir })
  } catch {
    throw why
  }
  if (st.state === 'held') {
    const h = st.holders[0]
    const who = h?.pid ? `pid ${h.pid}` : `a process this user cannot see${h?.uid !== undefined && h?.uid !== null ? ` (uid ${h.uid})` : ''}`
    writeErr(`pid-guard: "${name}" is already running (${who}; lock file ${st.lockPath})\n`)
    return 1
  }
  if (st.state === 'orphaned') {
    writeErr(`pid-guard: "${name}" is not held, but its holder's orphans still run\n`)
    for (const o of st.orphans ?? []) writeErr(`  ${orphanLine(o, name)}\n`)
    return 1
  }
  if (st.state === 'stale') writeOut(`pid-guard: "${name}" is stale (${st.staleReason}); not cleaned: ${why.message.replace(/^pid-guard: /, '')}\n`)
  return 0
}

module.exports = { summary: 'exit 0 if <name> is free, 1 if a process holds it (npm prestart)', usage, run }
