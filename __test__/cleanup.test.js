'use strict'
// Cleanup on release, exit, uncaught exception and signals, without changing how the app exits.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { acquire, status } = require('..')
const h = require('./helpers')

function files(dir) {
  return fs.readdirSync(dir).sort()
}

async function holderIn(t, opts = {}, more) {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'svc', dir, ...opts }, more)
  const pidPath = path.join(dir, 'svc.pid')
  assert.equal(fs.readFileSync(pidPath, 'utf8'), `${holder.pid}\n`)
  return { dir, holder, pidPath }
}

/** After a clean exit: no pid file, status free, the next acquire recovers nothing. */
function assertCleaned(dir, pidPath) {
  assert.equal(fs.existsSync(pidPath), false, `${pidPath} removed; left: ${files(dir)}`)
  const st = status('svc', { dir })
  assert.equal(st.state, 'free', JSON.stringify(st))
  const g = acquire('svc', { dir })
  try {
    assert.deepEqual(g.recovered, [], 'nothing stale left behind')
  } finally {
    g.release()
  }
}

test('release() removes the pid file and frees the guard while the process lives', async (t) => {
  const { dir, holder, pidPath } = await holderIn(t)
  holder.send('release')
  await holder.next((m) => m.released)
  assert.equal(fs.existsSync(pidPath), false)
  assert.equal(h.isRunning(holder.pid), true)
  assertCleaned(dir, pidPath)
  // release() is idempotent.
  holder.send('release')
  await holder.next((m) => m.released && holder.lines.filter((x) => x.released).length === 2)
  holder.send('exit 0')
  assert.equal((await h.waitExit(holder)).code, 0)
})

test('a natural exit removes the pid file', async (t) => {
  const { dir, holder, pidPath } = await holderIn(t)
  holder.send('end')
  const ex = await h.waitExit(holder)
  assert.deepEqual(ex, { code: 0, signal: null })
  assertCleaned(dir, pidPath)
})

test('process.exit(7) removes the pid file and keeps the exit code', async (t) => {
  const { dir, holder, pidPath } = await holderIn(t)
  holder.send('exit 7')
  assert.deepEqual(await h.waitExit(holder), { code: 7, signal: null })
  assertCleaned(dir, pidPath)
})

test('an uncaught exception removes the pid file and the exit code stays 1', async (t) => {
  const { dir, holder, pidPath } = await holderIn(t)
  holder.send('throw')
  assert.deepEqual(await h.waitExit(holder), { code: 1, signal: null })
  assert.match(holder.stderr(), /uncaught on purpose/, 'the app error is still printed')
  assertCleaned(dir, pidPath)
})

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  test(`${sig} with no app handler: the process still dies of ${sig} and the pid file is removed`, { skip: h.posixOnly('dies of a signal') }, async (t) => {
    const { dir, holder, pidPath } = await holderIn(t)
    holder.child.kill(sig)
    assert.deepEqual(await h.waitExit(holder), { code: null, signal: sig })
    assertCleaned(dir, pidPath)
  })
}

test('SIGTERM with no app handler: a shell sees exit status 143', { skip: h.posixOnly('sh and exit status 143') }, async (t) => {
  const dir = h.tmpDir(t)
  const args = JSON.stringify({ name: 'svc', dir })
  const { spawn } = require('node:child_process')
  const sh = h.track(
    t,
    spawn('sh', ['-c', `"$0" "$1" "$2"; echo "{\\"shellSaw\\":$?}"`, process.execPath, h.HOLDER, args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  )
  const r = h.lineReader(sh, 'sh')
  const ready = await r.next((m) => m.ready || m.error)
  assert.ok(ready.ready, JSON.stringify(ready))
  assert.ok(h.isRunning(ready.pid))
  process.kill(ready.pid, 'SIGTERM') // the fixture this test started, through sh
  const saw = await r.next((m) => 'shellSaw' in m)
  assert.equal(saw.shellSaw, 143)
  assert.equal(fs.existsSync(path.join(dir, 'svc.pid')), false)
})

test("with the app's own SIGTERM handler the app decides; the guard is held until it exits", { skip: h.posixOnly('a SIGTERM handler') }, async (t) => {
  const { dir, holder, pidPath } = await holderIn(t, { handler: 'SIGTERM' })
  holder.child.kill('SIGTERM')
  await holder.next((m) => m.signal === 'SIGTERM')
  // Still running, still holding.
  holder.send('status')
  await holder.next((m) => m.status)
  assert.equal(h.isRunning(holder.pid), true)
  assert.equal(fs.readFileSync(pidPath, 'utf8'), `${holder.pid}\n`)
  assert.equal(status('svc', { dir }).state, 'held')
  assert.throws(() => acquire('svc', { dir }), (e) => e.code === 'ELOCKED' && e.holder.pid === holder.pid)
  // A second SIGTERM is also the app's business.
  holder.child.kill('SIGTERM')
  await holder.next((m) => m.signal === 'SIGTERM' && holder.lines.filter((x) => x.signal).length === 2)
  assert.equal(h.isRunning(holder.pid), true)
  // Then it exits by itself.
  holder.send('end')
  assert.deepEqual(await h.waitExit(holder), { code: 0, signal: null })
  assertCleaned(dir, pidPath)
})

test('a shared holder removes its own pid file on SIGTERM and still dies of it', { skip: h.posixOnly('dies of a signal') }, async (t) => {
  const dir = h.tmpDir(t)
  const a = await h.hold(t, { name: 'svc', dir, mode: 'shared' })
  const b = await h.hold(t, { name: 'svc', dir, mode: 'shared' })
  assert.deepEqual(status('svc', { dir }).holders.map((x) => x.pid).sort(), [a.pid, b.pid].sort())
  a.child.kill('SIGTERM')
  assert.deepEqual(await h.waitExit(a), { code: null, signal: 'SIGTERM' })
  const st = status('svc', { dir })
  assert.equal(st.state, 'held')
  assert.deepEqual(st.holders.map((x) => x.pid), [b.pid], JSON.stringify(st.holders))
  const left = fs.readdirSync(path.join(dir, 'svc.shared'))
  assert.ok(!left.some((f) => f.startsWith(`${a.pid}.`)), `a's files removed: ${left}`)
})

for (const how of ['exit', 'SIGTERM']) {
  test(`cleanup: false leaves the files (${how}); status then says stale`, { skip: how === 'SIGTERM' && h.posixOnly('dies of a signal') }, async (t) => {
    const { dir, holder, pidPath } = await holderIn(t, { cleanup: false })
    if (how === 'exit') {
      holder.send('exit 0')
      assert.deepEqual(await h.waitExit(holder), { code: 0, signal: null })
    } else {
      holder.child.kill('SIGTERM')
      assert.deepEqual(await h.waitExit(holder), { code: null, signal: 'SIGTERM' })
    }
    assert.equal(fs.readFileSync(pidPath, 'utf8'), `${holder.pid}\n`)
    const st = status('svc', { dir })
    assert.equal(st.state, 'stale')
    assert.equal(st.holders[0]?.pid, holder.pid)
    assert.match(st.staleReason ?? '', /not running/)
    const g = acquire('svc', { dir })
    t.after(() => g.release())
    assert.equal(g.recovered[0]?.pid, holder.pid)
  })
}
