'use strict'
// Mutual exclusion under contention, proven by a witness outside the guard: every contender
// appends `enter`/`leave` lines to one O_APPEND log right after acquiring and right before
// releasing; the log is replayed afterwards and must show no overlap.
//  - rounds: the test says "go R" to all 8 contenders at once (onConflict 'fail'); a winner
//    holds until every contender has answered, so by design each round has exactly one
//    exclusive winner, or (mixed) every shared requester wins and no exclusive one does.
//  - free-running: 8 contenders loop acquire({onConflict:'wait'}) / release as fast as they can.
// Default ~10 s on 2 cores; STRESS=full runs 10,000 rounds.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const h = require('../helpers')
const { size, startQueued, checkWitness } = require('./common')

const N = 8

async function contenders(t, dir, log, modes) {
  const cs = modes.map((mode) => startQueued(t, 'stress-contender.js', { name: 'svc', dir, log, mode }))
  for (const c of cs) {
    const m = await c.take()
    assert.ok(m.ready, JSON.stringify(m))
  }
  t.after(() => cs.forEach((c) => c.child.stdin.end()))
  return cs
}

async function rounds(t, modes, count) {
  const dir = h.tmpDir(t, 'pg-stress-mutex-')
  const log = path.join(h.tmpDir(t, 'pg-stress-log-'), 'witness.log')
  const cs = await contenders(t, dir, log, modes)
  const tally = { rounds: 0, exclusiveRounds: 0, sharedRounds: 0, attempts: 0, wins: 0 }
  const bad = []
  const t0 = Date.now()
  for (let r = 0; r < count; r++) {
    for (const c of cs) c.send(`go ${r}`)
    const answers = await Promise.all(cs.map((c) => c.take()))
    tally.rounds++
    tally.attempts += answers.length
    const errs = answers.filter((a) => a.error || a.r !== r)
    if (errs.length) bad.push(`round ${r}: ${JSON.stringify(errs)}`)
    const winners = cs.filter((_, i) => answers[i].won)
    tally.wins += winners.length
    const exWin = winners.filter((c, i) => modes[cs.indexOf(c)] === 'exclusive')
    const shRequesters = modes.filter((m) => m === 'shared').length
    if (exWin.length === 1 && winners.length === 1) tally.exclusiveRounds++
    else if (exWin.length === 0 && winners.length === shRequesters && shRequesters > 0) tally.sharedRounds++
    else bad.push(`round ${r}: ${winners.length} winners (${exWin.length} exclusive): ${winners.map((c) => `${c.pid}/${modes[cs.indexOf(c)]}`).join(', ') || 'none'}`)
    for (const c of winners) c.send(`rel ${r}`)
    const rel = await Promise.all(winners.map((c) => c.take()))
    for (const m of rel) if (!m.released || m.pidErrors.length) bad.push(`round ${r}: release ${JSON.stringify(m)}`)
    if (bad.length > 20) break
  }
  tally.ms = Date.now() - t0
  const w = checkWitness(fs.readFileSync(log, 'utf8'))
  return { tally, w, bad }
}

test('mutual exclusion: 8 processes, exclusive rounds, exactly one winner each, zero overlaps in the witness log', { skip: h.wineGap('appends') }, async (t) => {
  const count = size(600, 10000)
  const { tally, w, bad } = await rounds(t, Array(N).fill('exclusive'), count)
  t.diagnostic(`exclusive rounds: ${tally.rounds} rounds, ${tally.attempts} attempts, ${tally.wins} wins, ${tally.exclusiveRounds} single-winner rounds in ${tally.ms} ms; witness: ${w.enters} enters, ${w.leaves} leaves, ${w.violations.length} overlaps`)
  assert.deepEqual(bad.slice(0, 20), [])
  assert.deepEqual(w.violations.slice(0, 20), [])
  assert.equal(tally.exclusiveRounds, count)
  assert.equal(w.enters, count)
  assert.equal(w.leaves, count)
})

test('mutual exclusion: 5 shared + 3 exclusive requesters per round: one exclusive winner or every shared one', { skip: h.wineGap('appends') }, async (t) => {
  const count = size(400, 10000)
  const modes = ['shared', 'exclusive', 'shared', 'shared', 'exclusive', 'shared', 'exclusive', 'shared']
  const { tally, w, bad } = await rounds(t, modes, count)
  t.diagnostic(`mixed rounds: ${tally.rounds} rounds (${tally.exclusiveRounds} won by one exclusive, ${tally.sharedRounds} by all 5 shared), ${tally.wins} wins in ${tally.ms} ms; witness: ${w.enters} enters, max ${w.maxShared} shared inside at once, ${w.violations.length} overlaps`)
  assert.deepEqual(bad.slice(0, 20), [])
  assert.deepEqual(w.violations.slice(0, 20), [])
  assert.equal(tally.exclusiveRounds + tally.sharedRounds, count)
  assert.equal(w.enters, tally.wins)
})

for (const [label, p] of [['exclusive', 0], ['mixed (30% shared)', 0.3]]) {
  test(`mutual exclusion: 8 processes free-running acquire({onConflict:'wait'}) / release, ${label}: zero overlaps`, { skip: h.wineGap('appends') }, async (t) => {
    const k = size(250, 1250)
    const dir = h.tmpDir(t, 'pg-stress-free-')
    const log = path.join(h.tmpDir(t, 'pg-stress-log-'), 'witness.log')
    const cs = await contenders(t, dir, log, Array(N).fill('exclusive'))
    const t0 = Date.now()
    for (const c of cs) c.send(`free ${k} ${p}`)
    const results = await Promise.all(cs.map((c) => c.take()))
    const ms = Date.now() - t0
    const w = checkWitness(fs.readFileSync(log, 'utf8'))
    const shared = results.reduce((a, r) => a + r.shared, 0)
    t.diagnostic(`free-running ${label}: ${N} x ${k} = ${N * k} holds (${shared} shared) in ${ms} ms; witness: ${w.enters} enters, max ${w.maxShared} shared inside at once, ${w.violations.length} overlaps`)
    for (const r of results) {
      assert.deepEqual(r.errors, [])
      assert.deepEqual(r.pidErrors, [])
    }
    assert.deepEqual(w.violations.slice(0, 20), [])
    assert.equal(w.enters, N * k)
  })
}
