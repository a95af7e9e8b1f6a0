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

// Found by an outside attack: one inotify instance per waiter; 150 waiters in one process took
// all of the user's 128, and another program's fs.watch failed with EMFILE. A process holds at
// most a few; the other waiters re-check on a short timer, and every waiter still gets its turn.
test('forty waiters hold at most 8 inotify instances, and all of them win in turn', { skip: process.platform !== 'linux' && 'inotify is Linux' }, async (t) => {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'busy', dir })
  const code = `
    const pg = require(${JSON.stringify(ROOT)})
    const fs = require('node:fs')
    const inotify = () => fs.readdirSync('/proc/self/fd').filter((f) => { try { return fs.readlinkSync('/proc/self/fd/' + f) === 'anon_inode:inotify' } catch { return false } }).length
    let wins = 0
    const waits = Array.from({ length: 40 }, () => pg.acquireAsync('busy', { dir: ${JSON.stringify(dir)}, onConflict: 'wait', timeoutMs: 20000 }).then((g) => { wins++; g.release() }))
    setTimeout(() => console.log(JSON.stringify({ pending: inotify() })), 300)
    Promise.all(waits).then(() => console.log(JSON.stringify({ wins })), (e) => console.log(JSON.stringify({ error: e.code + ' ' + e.message })))`
  const child = h.track(t, spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] }))
  const r = h.lineReader(child, 'waiters')
  const { pending } = await r.next((m) => m.pending !== undefined)
  assert.ok(pending <= 8, `${pending} inotify instances for 40 waiters`)
  holder.send('exit 0')
  const done = await r.next((m) => m.wins !== undefined || m.error)
  assert.deepEqual(done, { wins: 40 })
})
