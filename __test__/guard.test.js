'use strict'
// The guard's promises, proved with real processes: exclusion, crash recovery, contended starts,
// shared holders, PID reuse, GC, lock inheritance, debug log, ESM.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const pg = require('..')
const h = require('./helpers')

const { acquire, status, PidGuardError } = pg

/** Acquire in this process, released after the test. */
function acquireHere(t, name, opts) {
  const g = acquire(name, opts)
  t.after(() => g.release())
  return g
}

function expectLocked(fn, holderPid) {
  let err
  assert.throws(fn, (e) => ((err = e), e instanceof PidGuardError && e.code === 'ELOCKED'))
  if (holderPid !== undefined) assert.equal(err.holder?.pid, holderPid, `holder pid in ${JSON.stringify(err.holder)}`)
  return err
}

test('a second instance fails with ELOCKED naming the first one', async (t) => {
  const dir = h.tmpDir(t)
  const first = await h.hold(t, { name: 'svc', dir, meta: { port: 4242 } })
  const second = h.startHolder(t, { name: 'svc', dir, expectFail: true }, { label: 'second' })
  const msg = await second.ready
  assert.equal((await h.waitExit(second)).code, 3)
  assert.ok(msg.error, `second instance should fail, got ${JSON.stringify(msg)}`)
  const e = msg.error
  assert.equal(e.code, 'ELOCKED')
  assert.equal(e.isPidGuardError, true, 'the error is a PidGuardError instance')
  assert.equal(e.name, 'PidGuardError')
  assert.equal(e.holder.pid, first.pid)
  assert.equal(e.holder.alive, true)
  assert.deepEqual(e.holder.meta, { port: 4242 })
  assert.match(e.message, new RegExp(`\\b${first.pid}\\b`), 'message names the pid')
  assert.ok(e.message.includes(path.join(dir, 'svc.pid')), `message names the pid file: ${e.message}`)
  assert.match(e.message, /"svc"/)
  assert.match(e.message, /started/, 'message says when the holder started')

  // The same from this process, checking the class directly.
  const err = expectLocked(() => acquire('svc', { dir }), first.pid)
  assert.ok(err instanceof Error)
  assert.ok(Array.isArray(err.holders) && err.holders.length === 1)
  // The loser left the holder's files alone and the holder still holds.
  assert.equal(fs.readFileSync(path.join(dir, 'svc.pid'), 'utf8'), `${first.pid}\n`)
  assert.equal(status('svc', { dir }).state, 'held')
})

test('kill -9 of the holder frees the guard at once and the next acquire reports the recovery', async (t) => {
  const dir = h.tmpDir(t)
  const first = await h.hold(t, { name: 'svc', dir })
  assert.equal(fs.readFileSync(path.join(dir, 'svc.pid'), 'utf8'), `${first.pid}\n`)
  first.child.kill('SIGKILL')
  const ex = await h.waitExit(first)
  assert.equal(ex.signal, 'SIGKILL')
  // Files are left behind by the crash: status calls that stale, without touching them.
  const st = status('svc', { dir })
  assert.equal(st.state, 'stale')
  assert.equal(st.holders[0]?.pid, first.pid)
  assert.equal(st.holders[0]?.alive, false)
  assert.ok(fs.existsSync(path.join(dir, 'svc.pid')), 'status must not delete the stale pid file')

  const g = acquireHere(t, 'svc', { dir })
  assert.ok(Array.isArray(g.recovered) && g.recovered.length >= 1, `recovered: ${JSON.stringify(g.recovered)}`)
  const r = g.recovered[0]
  assert.equal(r.pid, first.pid)
  assert.match(r.reason, /not running/)
  assert.ok(r.removed.some((f) => f.endsWith('svc.pid')), `removed: ${r.removed}`)
  assert.equal(fs.readFileSync(g.pidPath, 'utf8'), `${process.pid}\n`)
})

test('a contended start: every loser fails and the holder files stay byte-for-byte intact', async (t) => {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'svc', dir, meta: { port: 1 } })
  const files = ['svc.pid', 'svc.lock'].map((f) => path.join(dir, f))
  const before = files.map(h.snapshot)
  const N = 8
  const losers = Array.from({ length: N }, (_, i) =>
    h.startHolder(t, { name: 'svc', dir, expectFail: true }, { label: `loser ${i}` }),
  )
  const msgs = await Promise.all(losers.map((l) => l.ready))
  const exits = await Promise.all(losers.map((l) => h.waitExit(l)))
  for (const [i, m] of msgs.entries()) {
    assert.equal(m.error?.code, 'ELOCKED', `loser ${i}: ${JSON.stringify(m)}`)
    assert.equal(m.error.holder.pid, holder.pid, `loser ${i} names the holder`)
    assert.equal(exits[i].code, 3)
  }
  const after = files.map(h.snapshot)
  for (const [i, f] of files.entries()) assert.deepEqual(after[i], before[i], `${f} untouched`)
  assert.equal(fs.readFileSync(files[0], 'utf8'), `${holder.pid}\n`)
  const st = status('svc', { dir })
  assert.equal(st.state, 'held')
  assert.equal(st.holders[0].pid, holder.pid)
  assert.equal(st.holders[0].verified, true)
})

test('shared holders coexist and are each listed; exclusive waits for the last one', async (t) => {
  const dir = h.tmpDir(t)
  const shared = await Promise.all(
    [1, 2, 3].map((i) => h.hold(t, { name: 'pool', dir, mode: 'shared', meta: { i } }, { label: `shared ${i}` })),
  )
  const pids = shared.map((s) => s.pid).sort()
  const st = status('pool', { dir })
  assert.equal(st.state, 'held')
  assert.equal(st.mode, 'shared')
  assert.deepEqual(st.holders.map((x) => x.pid).sort(), pids)
  for (const x of st.holders) {
    assert.equal(x.alive, true)
    assert.equal(x.mode, 'shared')
  }
  assert.deepEqual(st.holders.map((x) => x.meta?.i).sort(), [1, 2, 3])

  // Exclusive is refused while any shared holder lives, and names them.
  const err = expectLocked(() => acquire('pool', { dir }))
  assert.deepEqual(err.holders.map((x) => x.pid).sort(), pids)
  // A shared request from a fourth process is fine.
  const g = acquireHere(t, 'pool', { dir, mode: 'shared' })
  g.release()

  shared[0].child.kill('SIGKILL')
  shared[1].child.kill('SIGKILL')
  await Promise.all([h.waitExit(shared[0]), h.waitExit(shared[1])])
  expectLocked(() => acquire('pool', { dir }), shared[2].pid)
  assert.deepEqual(status('pool', { dir }).holders.filter((x) => x.alive).map((x) => x.pid), [shared[2].pid])

  shared[2].send('exit 0')
  await h.waitExit(shared[2])
  const ex = acquireHere(t, 'pool', { dir })
  assert.equal(ex.mode, 'exclusive')
})

test('a shared request fails while an exclusive holder lives', async (t) => {
  const dir = h.tmpDir(t)
  const ex = await h.hold(t, { name: 'pool', dir })
  expectLocked(() => acquire('pool', { dir, mode: 'shared' }), ex.pid)
  const child = h.startHolder(t, { name: 'pool', dir, mode: 'shared', expectFail: true })
  const m = await child.ready
  assert.equal(m.error?.code, 'ELOCKED', JSON.stringify(m))
  assert.equal(m.error.holder.pid, ex.pid)
  ex.child.kill('SIGKILL')
  await h.waitExit(ex)
  const g = acquireHere(t, 'pool', { dir, mode: 'shared' })
  assert.equal(g.mode, 'shared')
  assert.ok(g.recovered.some((r) => r.pid === ex.pid), JSON.stringify(g.recovered))
})

for (const withRecord of [false, true]) {
  test(`a pid file naming an unrelated live process is stale and that process is untouched (${withRecord ? 'with a record with a wrong startId' : 'pid file only'})`, async (t) => {
    const dir = h.tmpDir(t)
    const sleep = h.spawnSleep(t)
    await h.waitFor(() => h.isRunning(sleep.pid), 'sleep to start')
    const pidPath = path.join(dir, 'svc.pid')
    fs.writeFileSync(pidPath, `${sleep.pid}\n`, { mode: 0o600 })
    if (withRecord) {
      // A real record, from a real acquire, then edited to name the sleep with a wrong start id.
      const other = h.tmpDir(t)
      const g = acquire('svc', { dir: other, meta: { port: 9 } })
      const rec = JSON.parse(fs.readFileSync(g.recordPath, 'utf8'))
      g.release()
      rec.pid = sleep.pid
      rec.startId = '12345'
      rec.startedAt = 1000
      fs.writeFileSync(path.join(dir, 'svc.json'), JSON.stringify(rec), { mode: 0o600 })
    }
    const st = status('svc', { dir })
    assert.equal(st.state, 'stale', JSON.stringify(st))
    assert.ok(st.staleReason, 'a reason is given')
    assert.ok(!st.holders.some((x) => x.pid === sleep.pid && x.verified), 'the sleep is never taken for the holder')
    assert.equal(fs.readFileSync(pidPath, 'utf8'), `${sleep.pid}\n`, 'status leaves the file alone')

    const g = acquireHere(t, 'svc', { dir })
    const r = g.recovered.find((x) => x.pid === sleep.pid)
    assert.ok(r, `recovered names the pid: ${JSON.stringify(g.recovered)}`)
    assert.ok(r.reason.length > 0)
    assert.equal(fs.readFileSync(pidPath, 'utf8'), `${process.pid}\n`)

    // The sleep got no signal: still running, nothing pending, and it dies of our own signal.
    assert.ok(h.isRunning(sleep.pid), 'the unrelated process still runs')
    assert.equal(sleep.child.exitCode, null)
    if (process.platform !== 'linux') return // signal masks are read from /proc/PID/status
    const masks = h.signalMasks(sleep.pid)
    assert.equal(BigInt('0x' + masks.pending), 0n)
    assert.equal(BigInt('0x' + masks.shared), 0n)
    sleep.child.kill('SIGUSR2')
    const ex = await h.withDeadline(sleep.exited, 5000, 'sleep exit')
    assert.equal(ex.signal, 'SIGUSR2', 'its exit came from the test, not from pid-guard')
  })
}

for (const cleanup of [true, false]) {
  test(`a guard thrown away and garbage collected stays held (cleanup: ${cleanup})`, async (t) => {
    const dir = h.tmpDir(t)
    const holder = await h.hold(t, { name: 'svc', dir, dropGuard: true, cleanup }, { nodeArgs: ['--expose-gc'] })
    // Give finalizers another turn inside the child, then ask it for status (it is alive and idle).
    holder.send('status')
    await holder.next((m) => m.status)
    const st = status('svc', { dir })
    assert.equal(st.state, 'held')
    assert.equal(st.holders[0].pid, holder.pid)
    expectLocked(() => acquire('svc', { dir }), holder.pid)
    const second = h.startHolder(t, { name: 'svc', dir, expectFail: true })
    assert.equal((await second.ready).error?.code, 'ELOCKED')
  })
}

test('children spawned by the holder do not inherit the lock', async (t) => {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'svc', dir, spawnSleep: true })
  const sleepPid = holder.msg.sleepPid
  assert.ok(sleepPid > 1)
  t.after(() => {
    if (h.isRunning(sleepPid)) process.kill(sleepPid, 'SIGKILL')
  })
  holder.child.kill('SIGKILL')
  await h.waitExit(holder)
  assert.ok(h.isRunning(sleepPid), 'the grandchild still runs')
  assert.notEqual(status('svc', { dir }).state, 'held', 'the sleep does not hold the guard')
  const g = acquireHere(t, 'svc', { dir })
  assert.ok(g.recovered.some((r) => r.pid === holder.pid), JSON.stringify(g.recovered))
  process.kill(sleepPid, 'SIGKILL')
  await h.waitFor(() => !h.isRunning(sleepPid), 'sleep to die')
})

test('PID_GUARD_LOG=debug prints the decisions to stderr; silent without it', async (t) => {
  const dir = h.tmpDir(t)
  const env = { PID_GUARD_LOG: 'debug' }
  const first = await h.hold(t, { name: 'svc', dir }, { env })
  await h.waitFor(() => /lock won/.test(first.stderr()), 'the "lock won" line')
  assert.match(first.stderr(), /svc/)

  const loser = h.startHolder(t, { name: 'svc', dir, expectFail: true }, { env })
  await loser.ready
  await h.waitExit(loser)
  assert.match(loser.stderr(), /lock lost/)

  first.child.kill('SIGKILL')
  await h.waitExit(first)
  const next = await h.hold(t, { name: 'svc', dir }, { env })
  await h.waitFor(() => /removed/.test(next.stderr()), 'the "removed" line')
  assert.match(next.stderr(), /stale/)
  assert.match(next.stderr(), new RegExp(`${first.pid}`))
  assert.match(next.stderr(), /not running/)
  next.send('exit 0')
  await h.waitExit(next)

  // Silent without it: a full cycle of win, lose, recover, release.
  const dir2 = h.tmpDir(t)
  const quiet = await h.hold(t, { name: 'svc', dir: dir2 })
  const quietLoser = h.startHolder(t, { name: 'svc', dir: dir2, expectFail: true })
  await quietLoser.ready
  await h.waitExit(quietLoser)
  quiet.child.kill('SIGKILL')
  await h.waitExit(quiet)
  const quiet2 = await h.hold(t, { name: 'svc', dir: dir2 })
  quiet2.send('exit 0')
  await h.waitExit(quiet2)
  assert.equal(quiet.stderr() + quietLoser.stderr() + quiet2.stderr(), '')
})

test('ESM import works', async (t) => {
  const dir = h.tmpDir(t)
  const code = `
    import { acquire, status, PidGuardError, version } from 'pid-guard'
    import def from 'pid-guard'
    const g = acquire('esm', { dir: ${JSON.stringify(dir)} })
    const s = status('esm', { dir: ${JSON.stringify(dir)} })
    console.log(JSON.stringify({ pid: g.pid, pidPath: g.pidPath, version, same: def.acquire === acquire,
      cls: typeof PidGuardError, state: s.state }))
    g.release()
  `
  const r = await h.run(t, ['--input-type=module', '-e', code], { cwd: h.ROOT })
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.pid, r.pid)
  assert.equal(out.pidPath, path.join(dir, 'esm.pid'))
  assert.equal(out.version, require('../package.json').version)
  assert.equal(out.same, true)
  assert.equal(out.cls, 'function')
  assert.equal(fs.existsSync(out.pidPath), false, 'released')

  // And by file path, from anywhere.
  const byPath = `import { acquire } from ${JSON.stringify('file://' + path.join(h.ROOT, 'index.mjs'))}
    const g = acquire('esm2', { dir: ${JSON.stringify(dir)} }); console.log(g.pid)`
  const r2 = await h.run(t, ['--input-type=module', '-e', byPath], { cwd: dir })
  assert.equal(r2.code, 0, r2.stderr)
  assert.equal(Number(r2.stdout.trim()), r2.pid)
})

test('acquire/release races in several processes never let two holders in', async (t) => {
  const dir = h.tmpDir(t)
  const markerDir = h.tmpDir(t)
  const N = 4
  const runs = Array.from({ length: N }, () =>
    h.run(t, [path.join(__dirname, 'fixtures', 'churn.js'), JSON.stringify({ name: 'race', dir, markerDir, iterations: h.scaled(300) })], {
      timeout: h.DEADLINE,
    }),
  )
  // Meanwhile, a reader: whenever status says held with a pid file present, its content is valid.
  let done = false
  const seen = { held: 0, bad: [] }
  const reader = (async () => {
    while (!done) {
      const st = status('race', { dir })
      if (st.state === 'held') {
        seen.held++
        if (st.pidFile.exists && !st.pidFile.valid) seen.bad.push(st.pidFile.problem)
      }
      await new Promise((r) => setImmediate(r))
    }
  })()
  const results = await Promise.all(runs)
  done = true
  await reader
  let wins = 0
  for (const r of results) {
    assert.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout)
    assert.deepEqual(s.violations, [], `mutual exclusion broken in ${s.pid}`)
    assert.deepEqual(s.errors, [], `unexpected errors in ${s.pid}`)
    wins += s.wins
  }
  assert.ok(wins >= N, `every process should win at least sometimes (wins ${wins})`)
  t.diagnostic(`${wins} wins in ${N} processes; the reader saw 'held' ${seen.held} times`)
  assert.deepEqual(seen.bad, [], 'a reader saw an empty or half-written pid file while the guard was held')
  assert.equal(status('race', { dir }).state, 'free')
})

test('status finds a live holder through the kernel lock table when its pid file is gone or empty', async (t) => {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'svc', dir })
  const pidPath = path.join(dir, 'svc.pid')
  fs.unlinkSync(pidPath)
  let st = status('svc', { dir })
  assert.equal(st.state, 'held')
  assert.equal(st.holders[0].pid, holder.pid)
  assert.equal(st.pidFile.exists, false)
  expectLocked(() => acquire('svc', { dir }), holder.pid)
  fs.writeFileSync(pidPath, '')
  st = status('svc', { dir })
  assert.equal(st.state, 'held')
  assert.equal(st.holders[0].pid, holder.pid)
  const err = expectLocked(() => acquire('svc', { dir }), holder.pid)
  assert.match(err.message, new RegExp(`${holder.pid}`))
  assert.equal(fs.readFileSync(pidPath, 'utf8'), '', 'the loser did not rewrite the holder files')
})

test('update(meta) from the holder is seen by status and by the next loser', async (t) => {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'svc', dir, meta: { port: 1, version: 'a' } })
  assert.deepEqual(status('svc', { dir }).holders[0].meta, { port: 1, version: 'a' })
  const pidBefore = h.snapshot(path.join(dir, 'svc.pid'))
  holder.send('update {"port":2,"health":"http://127.0.0.1:2/health"}')
  await holder.next((m) => m.updated)
  const st = status('svc', { dir })
  assert.deepEqual(st.holders[0].meta, { port: 2, health: 'http://127.0.0.1:2/health' })
  assert.equal(st.holders[0].verified, true)
  const err = expectLocked(() => acquire('svc', { dir }), holder.pid)
  assert.equal(err.holder.meta.port, 2)
  assert.deepEqual(h.snapshot(path.join(dir, 'svc.pid')), pidBefore, 'update leaves the pid file alone')
})

test('mixed shared and exclusive churn never lets an exclusive holder in beside a shared one', async (t) => {
  const dir = h.tmpDir(t)
  const markerDir = h.tmpDir(t)
  const modes = ['exclusive', 'exclusive', 'shared', 'shared']
  const results = await Promise.all(
    modes.map((mode) =>
      h.run(t, [path.join(__dirname, 'fixtures', 'churn.js'), JSON.stringify({ name: 'mix', dir, markerDir, iterations: h.scaled(300), mode, gapMs: mode === 'shared' ? 2 : 0 })], {
        timeout: h.DEADLINE,
      }),
    ),
  )
  const wins = { exclusive: 0, shared: 0 }
  for (const [i, r] of results.entries()) {
    assert.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout)
    assert.deepEqual(s.violations, [], `${modes[i]} process ${s.pid}`)
    assert.deepEqual(s.errors, [], `${modes[i]} process ${s.pid}`)
    wins[modes[i]] += s.wins
  }
  t.diagnostic(`wins: ${JSON.stringify(wins)}`)
  assert.ok(wins.exclusive > 0 && wins.shared > 0, JSON.stringify(wins))
  assert.equal(status('mix', { dir }).state, 'free')
})

for (const mode of ['exclusive', 'shared']) {
  test(`status of a held ${mode} guard stays exact while other processes take and drop locks elsewhere`, async (t) => {
    // /proc/locks changes all the time on a busy machine; a reader must not miss or double-count
    // a holder because unrelated locks came and went while it read the table.
    const dir = h.tmpDir(t)
    const holders = await Promise.all(
      (mode === 'shared' ? [1, 2, 3] : [1]).map(() => h.hold(t, { name: 'steady', dir, mode })),
    )
    const want = holders.map((x) => x.pid).sort((a, b) => a - b)
    const other = h.tmpDir(t)
    const churners = [1].map((i) =>
      h.run(t, [path.join(__dirname, 'fixtures', 'churn.js'), JSON.stringify({ name: `other${i}`, dir: other, markerDir: h.tmpDir(t), iterations: h.scaled(800) })], {
        timeout: h.DEADLINE,
      }),
    )
    let finished = false
    Promise.all(churners).finally(() => (finished = true))
    const wrong = []
    let n = 0
    while (!finished) {
      for (let i = 0; i < 10; i++) {
        const st = status('steady', { dir })
        n++
        const got = st.holders.map((x) => x.pid).sort((a, b) => a - b)
        if (st.state !== 'held' || JSON.stringify(got) !== JSON.stringify(want)) {
          wrong.push(`${st.state} [${got}] ${st.staleReason ?? ''}`)
        }
      }
      await new Promise((r) => setImmediate(r))
    }
    await Promise.all(churners)
    t.diagnostic(`${n} status calls, ${wrong.length} wrong`)
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} of ${n} status calls were wrong (expected held by ${want})`)
  })
}
