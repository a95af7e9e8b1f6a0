'use strict'
// Threads: worker_threads in one process acquiring the same guard exclude each other like
// processes do (each acquire opens its own lock file description, and flock conflicts between
// descriptions), proven by a SharedArrayBuffer witness; shared mode lets them coexist.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const h = require('../helpers')
const { size, FIXTURES } = require('./common')
const { status } = require('../..')

const MOD = path.join(__dirname, '..', '..')

async function runWorkers(t, n, data, ownNames = false) {
  const dir = h.tmpDir(t, 'pg-stress-threads-')
  const witness = new SharedArrayBuffer(5 * 4)
  const t0 = Date.now()
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) => {
      const name = ownNames ? `svc${i}` : 'svc'
      const wk = new Worker(path.join(FIXTURES, 'stress-worker.js'), { workerData: { mod: MOD, name, dir, witness, ...data } })
      t.after(() => wk.terminate())
      return new Promise((resolve, reject) => {
        wk.once('message', resolve)
        wk.once('error', reject)
        wk.once('exit', (code) => reject(new Error(`worker exited ${code} without a result`)))
      })
    }),
  )
  const w = new Int32Array(witness)
  const sum = (k) => results.reduce((a, r) => a + r[k], 0)
  const out = { ms: Date.now() - t0, wins: sum('wins'), losses: sum('losses'), shared: sum('shared'), violations: w[2], maxShared: w[3], errors: results.flatMap((r) => r.errors) }
  out.after = status('svc', { dir }).state
  return out
}

for (const [label, data] of [
  ['exclusive, onConflict fail', { shareP: 0, onConflict: 'fail' }],
  ['exclusive, onConflict wait', { shareP: 0, onConflict: 'wait' }],
  ['mixed 30% shared, onConflict wait', { shareP: 0.3, onConflict: 'wait' }],
]) {
  test(`threads: 4 workers on one guard exclude each other (${label})`, async (t) => {
    const iterations = size(data.onConflict === 'wait' ? 400 : 1500, 10000)
    const r = await runWorkers(t, 4, { iterations, ...data })
    t.diagnostic(`threads ${label}: ${4 * iterations} attempts, ${r.wins} wins (${r.shared} shared), ${r.losses} ELOCKED, max ${r.maxShared} shared inside at once, ${r.violations} overlaps, ${r.errors.length} errors in ${r.ms} ms`)
    assert.deepEqual(r.errors.slice(0, 10), [])
    assert.equal(r.violations, 0)
    assert.equal(r.wins + r.losses, 4 * iterations)
    if (data.onConflict === 'wait') assert.equal(r.wins, 4 * iterations)
    else assert.ok(r.wins > 0 && r.losses > 0, 'there was contention')
    assert.equal(r.after, 'free')
  })
}

test('threads: shared holders in 4 workers are inside at the same time', async (t) => {
  const r = await runWorkers(t, 4, { iterations: 1, shareP: 1, barrier: 4 })
  t.diagnostic(`threads shared: ${r.wins} wins, max ${r.maxShared} inside at once`)
  assert.deepEqual(r.errors, [])
  assert.equal(r.wins, 4)
  assert.equal(r.maxShared, 4)
  assert.equal(r.violations, 0)
  assert.equal(r.after, 'free')
})

// Found by this suite: every onConflict 'wait' acquire opens an inotify instance (even when the
// first attempt wins) and closes it on a detached thread 7-15 ms later; a fast loop piles up
// more than fs.inotify.max_user_instances (128, per user, system-wide) and acquire then fails
// with EIO "cannot watch <dir>: Too many open files" instead of waiting.
test("threads: onConflict 'wait' in tight loops (4 workers, uncontended) never fails", async (t) => {
  const iterations = size(3000, 25000)
  const r = await runWorkers(t, 4, { iterations, onConflict: 'wait' }, true)
  const kinds = [...new Set(r.errors.map((e) => e.replace(/\/tmp\/\S+/g, '<dir>')))]
  t.diagnostic(`threads wait loops: ${4 * iterations} acquires, ${r.wins} wins, ${r.errors.length} errors${kinds.length ? `: ${kinds.join(' | ')}` : ''} in ${r.ms} ms`)
  assert.deepEqual(r.errors.slice(0, 5), [])
  assert.equal(r.wins, 4 * iterations)
})
