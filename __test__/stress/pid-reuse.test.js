'use strict'
// PID reuse: a pid file and record that name a live process started later than the recorded
// holder (a `sleep` this test started after the real holder died) are never believed and the
// process is never signalled: not by acquire, status, stop (with or without force) or takeover.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const h = require('../helpers')
const { acquire, acquireAsync, status, stop } = require('../..')

/** A guard whose holder was SIGKILLed, then whose files were pointed at a later `sleep`. */
async function reusedGuard(t, { keepPidFile = true } = {}) {
  const dir = h.tmpDir(t, 'pg-stress-reuse-')
  const holder = await h.hold(t, { name: 'svc', dir })
  holder.child.kill('SIGKILL')
  await h.waitExit(holder)
  const sleep = h.spawnSleep(t)
  let sleepExited = false
  sleep.exited.then(() => (sleepExited = true))
  await h.waitFor(() => h.isRunning(sleep.pid), 'sleep to start')
  const lock = path.join(dir, 'svc.lock')
  const rec = JSON.parse(fs.readFileSync(lock, 'utf8'))
  assert.equal(rec.pid, holder.pid)
  rec.pid = sleep.pid // the dead holder's start time, the new process's pid
  fs.writeFileSync(lock, JSON.stringify(rec))
  if (keepPidFile) fs.writeFileSync(path.join(dir, 'svc.pid'), `${sleep.pid}\n`)
  else fs.rmSync(path.join(dir, 'svc.pid'), { force: true })
  const alive = () => {
    assert.equal(sleepExited, false, 'the sleep was signalled')
    assert.equal(h.isRunning(sleep.pid), true, 'the sleep is running')
    if (!h.WIN) assert.deepEqual(h.signalMasks(sleep.pid).pending, '0000000000000000', 'no signal pending for the sleep')
    t.diagnostic(`reused pid ${sleep.pid}: still running, never signalled`)
  }
  return { dir, sleep, rec, alive }
}

test('pid reuse: status reports stale with the reason, never held', async (t) => {
  const { dir, sleep, rec, alive } = await reusedGuard(t)
  const st = status('svc', { dir })
  assert.equal(st.state, 'stale', JSON.stringify(st))
  const c = st.holders.find((x) => x.pid === sleep.pid)
  assert.ok(c, JSON.stringify(st.holders))
  assert.equal(c.alive, true)
  assert.equal(c.verified, false)
  assert.ok(c.startedAt > rec.startedAt, `sleep started ${c.startedAt}, holder ${rec.startedAt}`)
  assert.match(st.staleReason, new RegExp(`pid ${sleep.pid} now belongs to another process`))
  alive()
})

test('pid reuse: acquire recovers without signalling and says why', async (t) => {
  const { dir, sleep, alive } = await reusedGuard(t)
  const g = acquire('svc', { dir })
  t.after(() => g.release())
  const r = g.recovered.find((x) => x.pid === sleep.pid)
  assert.ok(r, JSON.stringify(g.recovered))
  assert.match(r.reason, /now belongs to another process/)
  assert.ok(!r.signals?.length, JSON.stringify(r))
  assert.equal(fs.readFileSync(g.pidPath, 'utf8'), `${process.pid}\n`)
  alive()
})

for (const force of [false, true]) {
  test(`pid reuse: stop(name${force ? ', force' : ''}) refuses (ENOTFOUND/ENOTVERIFIED) and the process survives`, async (t) => {
    const { dir, alive } = await reusedGuard(t)
    await assert.rejects(stop('svc', { dir, timeoutMs: 300, force }), (e) => {
      assert.ok(['ENOTFOUND', 'ENOTVERIFIED'].includes(e.code), `${e.code}: ${e.message}`)
      return true
    })
    alive()
    const cli = await h.cli(t, ['stop', 'svc', '--dir', dir, ...(force ? ['--force'] : [])])
    assert.notEqual(cli.code, 0, cli.stdout + cli.stderr)
    alive()
  })
}

for (const how of ['acquire', 'acquireAsync']) {
  test(`pid reuse: ${how}({onConflict:'takeover'}) acquires without signalling the reused pid`, async (t) => {
    const { dir, sleep, alive } = await reusedGuard(t)
    const opts = { dir, onConflict: 'takeover', graceMs: 200, timeoutMs: 500 }
    const g = how === 'acquire' ? acquire('svc', opts) : await acquireAsync('svc', opts)
    t.after(() => g.release())
    for (const r of g.recovered) assert.ok(!r.signals?.length, JSON.stringify(r))
    assert.ok(g.recovered.some((x) => x.pid === sleep.pid), JSON.stringify(g.recovered))
    alive()
  })
}

test('pid reuse: a record alone (pid file gone) naming the reused pid is history, never a holder', async (t) => {
  const { dir, alive } = await reusedGuard(t, { keepPidFile: false })
  assert.notEqual(status('svc', { dir }).state, 'held')
  await assert.rejects(stop('svc', { dir, timeoutMs: 300, force: true }), (e) => ['ENOTFOUND', 'ENOTVERIFIED'].includes(e.code))
  const g = acquire('svc', { dir, onConflict: 'takeover', graceMs: 200 })
  for (const r of g.recovered) assert.ok(!r.signals?.length, JSON.stringify(r))
  g.release()
  alive()
})
