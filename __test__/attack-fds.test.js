'use strict'
// Issue 10, item 9: acquire (sync and async, uncontended, waiting, timed out, aborted, failed)
// must not leave a file descriptor behind for the GC to close. Counted in a child process
// from /proc/self/fd, before and after many cycles, and tried under `ulimit -n 256`.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const h = require('./helpers')

const ROOT = JSON.stringify(path.join(__dirname, '..'))

/** A child script: `body` is an async function of (pg, dir, n) run between two fd counts. */
function script(dir, n, body) {
  return `
    const fs = require('node:fs')
    const pg = require(${ROOT})
    const dir = ${JSON.stringify(dir)}
    const fds = () => fs.readdirSync('/proc/self/fd').length
    ;(async () => {
      const body = ${body}
      await body(pg, dir, 20) // warm up: lazily opened things (libuv, the addon) settle
      const before = fds()
      await body(pg, dir, ${n})
      console.log(JSON.stringify({ before, after: fds() }))
    })().catch((e) => { console.log(JSON.stringify({ error: e.code, message: e.message })); process.exitCode = 1 })`
}

const CASES = {
  'acquireAsync + release, uncontended': [10000, `async (pg, dir, n) => {
    for (let i = 0; i < n; i++) (await pg.acquireAsync('a', { dir })).release()
  }`],
  'acquireAsync with an AbortSignal + release, uncontended': [3000, `async (pg, dir, n) => {
    for (let i = 0; i < n; i++) {
      const ac = new AbortController()
      ;(await pg.acquireAsync('a', { dir, signal: ac.signal })).release()
    }
  }`],
  'acquire (sync) + release': [10000, `async (pg, dir, n) => {
    for (let i = 0; i < n; i++) pg.acquire('a', { dir }).release()
  }`],
  'acquire (sync) waiting with a timeout that expires': [200, `async (pg, dir, n) => {
    const g = pg.acquire('s', { dir })
    for (let i = 0; i < n; i++) {
      try { pg.acquire('s', { dir, onConflict: 'wait', timeoutMs: 1 }); throw new Error('acquired') }
      catch (e) { if (e.code !== 'ELOCKED') throw e }
    }
    g.release()
  }`],
  'acquireAsync failing with ELOCKED': [3000, `async (pg, dir, n) => {
    const g = pg.acquire('b', { dir })
    for (let i = 0; i < n; i++) {
      try { await pg.acquireAsync('b', { dir }); throw new Error('acquired a held guard') }
      catch (e) { if (e.code !== 'ELOCKED') throw e }
    }
    g.release()
  }`],
  'acquireAsync waiting with a timeout that expires': [200, `async (pg, dir, n) => {
    const g = pg.acquire('c', { dir })
    for (let i = 0; i < n; i++) {
      try { await pg.acquireAsync('c', { dir, onConflict: 'wait', timeoutMs: 1 }); throw new Error('acquired') }
      catch (e) { if (e.code !== 'ELOCKED') throw e }
    }
    g.release()
  }`],
  'acquireAsync waiting, aborted': [200, `async (pg, dir, n) => {
    const g = pg.acquire('d', { dir })
    for (let i = 0; i < n; i++) {
      const ac = new AbortController()
      const p = pg.acquireAsync('d', { dir, onConflict: 'wait', signal: ac.signal })
      setTimeout(() => ac.abort(), 1)
      try { await p; throw new Error('acquired') } catch (e) { if (e.code !== 'EABORTED') throw e }
    }
    g.release()
  }`],
  'acquireAsync waiting, then winning when the holder releases': [200, `async (pg, dir, n) => {
    for (let i = 0; i < n; i++) {
      const g = pg.acquire('e', { dir })
      const p = pg.acquireAsync('e', { dir, onConflict: 'wait', timeoutMs: 10000 })
      setTimeout(() => g.release(), 1)
      ;(await p).release()
    }
  }`],
}

for (const [what, [n, body]] of Object.entries(CASES)) {
  test(`no fd is left behind: ${what} x ${n}`, { skip: h.linuxOnly('counts /proc/self/fd') }, async (t) => {
    const dir = h.tmpDir(t)
    const r = await h.node(t, script(dir, n, body), { timeout: 120000 })
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const { before, after } = JSON.parse(r.stdout)
    // Retired inotify instances are closed on a short-lived thread: allow a few in flight.
    assert.ok(after - before <= 4, `fds grew from ${before} to ${after} over ${n} cycles`)
  })
}

test('2,000 acquireAsync cycles succeed under ulimit -n 256', { skip: h.linuxOnly('sh ulimit') }, async (t) => {
  const dir = h.tmpDir(t)
  const code = script(dir, 2000, `async (pg, dir, n) => {
    for (let i = 0; i < n; i++) (await pg.acquireAsync('u', { dir })).release()
  }`)
  const { spawn } = require('node:child_process')
  const child = h.track(t, spawn('sh', ['-c', 'ulimit -n 256 && exec "$0" -e "$PG_CODE"', process.execPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PG_CODE: code, PID_GUARD_LOG: '' },
  }))
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d))
  const { code: exit } = await h.withDeadline(new Promise((res) => child.on('close', (code) => res({ code }))), 120000, 'the ulimit child')
  assert.equal(exit, 0, out + err)
  assert.ok(!JSON.parse(out).error, out)
})
