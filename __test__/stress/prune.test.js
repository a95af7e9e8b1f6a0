'use strict'
// `prune` racing holders (issue 13): 4 processes free-run acquire({onConflict:'wait'}) / release
// on one guard (30% shared) while this process prunes the directory in a loop. Prune removes
// the guard's files whenever it is free between holds, lock file included (unlinked while
// locked), so every acquirer meets a lock file that vanished or was replaced under it. The witness log
// must show no overlap, every exclusive holder must find the pid file naming it, and no acquire
// may fail.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const h = require('../helpers')
const { size, startQueued, checkWitness } = require('./common')
const { binding } = require('../../lib/native')

test('prune racing 4 free-running holders: zero overlaps, no lost pid file, no failed acquire', async (t) => {
  const k = size(300, 3000)
  const dir = h.tmpDir(t, 'pg-stress-prune-')
  const log = path.join(h.tmpDir(t, 'pg-stress-log-'), 'witness.log')
  const cs = Array.from({ length: 4 }, () => startQueued(t, 'stress-contender.js', { name: 'svc', dir, log, mode: 'exclusive' }))
  for (const c of cs) assert.ok((await c.take()).ready)
  t.after(() => cs.forEach((c) => c.child.stdin.end()))
  // Up to 4 ms between a release and the next acquire: the guard is free now and then. Under
  // Wine a prune takes about 10x as long, and woken waiters leave fewer free moments (each
  // run saw 0-4 with 4 ms): the gap is 50 ms there.
  for (const c of cs) c.send(`free ${k} 0.3 ${h.WINE ? 50 : 4}`)
  let done = false
  const results = Promise.all(cs.map((c) => c.take())).finally(() => (done = true))
  const tally = { prunes: 0, removed: 0, kept: 0, errors: [] }
  while (!done) {
    const r = JSON.parse(binding.prune(dir))
    tally.prunes++
    tally.removed += r.removed.length
    tally.kept += r.kept.length
    for (const e of r.errors) tally.errors.push(e.error.message)
    await new Promise((resolve) => setImmediate(resolve))
  }
  const rs = await results
  const w = checkWitness(fs.readFileSync(log, 'utf8'))
  t.diagnostic(`prune race: ${cs.length} x ${k} holds, ${tally.prunes} prunes (${tally.removed} removed the guard's files, ${tally.kept} kept it), ${tally.errors.length} prune errors; witness: ${w.enters} enters, ${w.violations.length} overlaps`)
  for (const r of rs) {
    assert.deepEqual(r.errors, [])
    assert.deepEqual(r.pidErrors, [])
  }
  assert.deepEqual(w.violations.slice(0, 20), [])
  assert.equal(w.enters, cs.length * k)
  assert.deepEqual(tally.errors.slice(0, 5), [])
  assert.ok(tally.removed > 0, 'prune never found the guard free: the race was not exercised')
})
