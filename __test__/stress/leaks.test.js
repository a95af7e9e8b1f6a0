'use strict'
// Leaks: many acquire/update/release cycles (10% shared, status every 50) in one process; open
// fds must be exactly equal after a warm-up and at the end, RSS (after gc) within a few MB.
// Default 20,000 cycles; STRESS=full 100,000.
//
// Measured (see RELIABILITY.md): a released guard's native handle (~1.6 KB) is freed by its
// finalizer, which Node runs on the event loop; a loop that never yields therefore grows until
// it does. The second test shows that memory is all reclaimed at the first turn.

const test = require('node:test')
const assert = require('node:assert/strict')
const h = require('../helpers')
const { size, startFixture } = require('./common')

const RSS_TOLERANCE = 4 * 1024 * 1024
const mb = (b) => (b / 1048576).toFixed(1)
const kib = (b) => `${b >= 0 ? '+' : ''}${(b / 1024).toFixed(0)} KiB`

async function measure(t, sync, cycles = size(20000, 100000)) {
  const warmup = 2000
  const dir = h.tmpDir(t, 'pg-stress-leaks-')
  const c = startFixture(t, 'stress-leaks.js', { dir, cycles, warmup, sync }, { nodeArgs: ['--expose-gc'] })
  const m = await c.next((x) => x.before || x.raw, 300000)
  assert.ok(m.before, JSON.stringify(m))
  return { cycles, warmup, m }
}

test('leaks: fds exactly flat and RSS flat over many acquire/update/release cycles (event loop turning)', { skip: h.linuxOnly('counts fds in /proc/self/fd') }, async (t) => {
  const { cycles, warmup, m } = await measure(t, false)
  t.diagnostic(`leaks (yielding every 100): ${cycles} cycles (${cycles - warmup} measured in ${m.ms} ms, ${((m.ms * 1000) / (cycles - warmup)).toFixed(1)} us each); fds ${m.before.fds} -> ${m.after.fds}; RSS ${mb(m.before.rss)} MB -> ${mb(m.after.rss)} MB (${kib(m.after.rss - m.before.rss)})`)
  assert.equal(m.after.fds, m.before.fds, 'open fds after the warm-up and at the end')
  assert.ok(m.after.rss - m.before.rss < RSS_TOLERANCE, `RSS grew by ${m.after.rss - m.before.rss} bytes`)
  assert.deepEqual(m.left, ['leak.lock'], 'a clean release leaves only the lock file (and an empty N.shared/)')
})

test('leaks: a loop that never yields holds released handles until the event loop turns; a second such loop reuses that memory', { skip: h.linuxOnly('counts fds in /proc/self/fd') }, async (t) => {
  const { cycles, warmup, m } = await measure(t, true, size(8000, 100000))
  const per = (m.held.rss - m.before.rss) / (cycles - warmup)
  t.diagnostic(`leaks (fully synchronous): ${cycles - warmup} cycles in ${m.ms} ms; fds ${m.before.fds} -> ${m.held.fds} -> ${m.after.fds}; RSS ${mb(m.before.rss)} MB -> ${mb(m.held.rss)} MB before the loop yields (${per.toFixed(0)} bytes per released guard) -> ${mb(m.mid.rss)} MB after gc (glibc keeps the freed pages) -> ${mb(m.after.rss)} MB after a second synchronous batch of the same size (${kib(m.after.rss - m.mid.rss)})`)
  assert.equal(m.held.fds, m.before.fds, 'released guards hold no fd, even before finalization')
  assert.equal(m.after.fds, m.before.fds)
  assert.ok(m.after.rss - m.mid.rss < RSS_TOLERANCE, `the second batch grew RSS by ${m.after.rss - m.mid.rss} bytes: the first batch's memory was not reclaimed`)
})
