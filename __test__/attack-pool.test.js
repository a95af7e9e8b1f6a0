'use strict'
// Found by an outside attack: each waiting acquireAsync held one of libuv's 4 pool threads for
// the whole wait, so 4 waiters stalled every fs, dns and crypto call of the process (a 1-byte
// readFile took 3 s, forever with no timeout). Waits and takeovers run on threads of their own.
// Real: a holder in another process, real waiters, a real file read, in a child process whose
// pool has the default 4 threads.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn } = require('node:child_process')
const h = require('./helpers')

const ROOT = path.join(__dirname, '..')

test('six waiting acquireAsync calls leave the thread pool free: a file read completes while they wait', async (t) => {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'busy', dir })
  const code = `
    const pg = require(${JSON.stringify(ROOT)})
    const fs = require('node:fs')
    const ctl = new AbortController()
    const waits = Array.from({ length: 6 }, () => pg.acquireAsync('busy', { dir: ${JSON.stringify(dir)}, onConflict: 'wait', signal: ctl.signal }).catch((e) => e.code))
    setTimeout(async () => {
      // The waits are pending now: a read through the pool must still go through.
      const t0 = Date.now()
      await fs.promises.readFile(__filename === '[eval]' ? ${JSON.stringify(path.join(ROOT, 'package.json'))} : __filename)
      const readMs = Date.now() - t0
      ctl.abort()
      const codes = await Promise.all(waits)
      console.log(JSON.stringify({ readMs, codes }))
    }, 200)`
  const child = h.track(t, spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, UV_THREADPOOL_SIZE: '4' } }))
  const r = h.lineReader(child, 'waiters')
  const out = await r.next((m) => m.readMs !== undefined)
  assert.deepEqual(out.codes, Array(6).fill('EABORTED'), 'every wait was still pending, then aborted')
  assert.ok(out.readMs < 2000, `the read went through while they waited (${out.readMs} ms)`)
  assert.equal(h.isRunning(holder.pid), true)
})
