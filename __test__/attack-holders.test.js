'use strict'
// Issue 10, items 3-6: who gets signalled, and what a busy lock means. Real processes: flock(1)
// holding the lock after our holder let go, a locker killed while its child keeps the fd, a dead
// locker's pid handed to an innocent process (ns_last_pid), PID namespaces (unshare), another
// user (runuser -u nobody). Every process signalled here was started by the test; innocents log
// every signal they get and stay alive, so "was it signalled" is read from their output.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn, execFileSync } = require('node:child_process')
const h = require('./helpers')

const ROOT = path.join(__dirname, '..')
const pg = require(ROOT)
const isRoot = process.getuid?.() === 0
const linux = process.platform === 'linux'
const has = (cmd) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}
const canUnshare = (() => {
  if (!linux || !isRoot || !has('unshare')) return false
  try {
    execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore', timeout: 5000 })
    return true
  } catch {
    return false
  }
})()

/** A process that logs every SIGTERM/SIGINT/SIGHUP it gets (as a JSON line) and keeps running. */
const INNOCENT = `
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => process.stdout.write(JSON.stringify({ signal: s }) + '\\n'))
  process.stdin.on('data', () => process.stdout.write(JSON.stringify({ alive: true }) + '\\n'))
  process.stdout.write(JSON.stringify({ ready: true, pid: process.pid }) + '\\n')
  setInterval(() => {}, 1 << 30)
`

/** The children of `pid`, from /proc. */
function childrenOf(pid) {
  const out = []
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    out.push(
      ...fs
        .readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number),
    )
  }
  return out
}

/** Polls until `lock` is busy (another process holds it): `flock -n` fails. */
async function waitBusy(lock) {
  await h.waitFor(() => {
    try {
      execFileSync('flock', ['-n', '-s', lock, 'true'], { stdio: 'ignore' })
      return false
    } catch {
      return true
    }
  }, `${lock} held`)
}

/** flock(1) holding `lock` while running `args`; resolves with the flock pid and its child's. */
async function flockHolder(t, lock, args = ['sleep', '1000']) {
  const child = h.track(t, spawn('flock', [lock, ...args], { stdio: 'ignore' }))
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  await waitBusy(lock)
  const kids = await h.waitFor(() => {
    const k = childrenOf(child.pid)
    return k.length ? k : null
  }, 'flock child')
  for (const k of kids) t.after(() => h.isRunning(k) && process.kill(k, 'SIGKILL'))
  return { child, pid: child.pid, kid: kids[0], exited }
}

test('a bystander that released cleanly is never named verified nor signalled while flock(1) holds the lock', { skip: !linux || !has('flock') }, async (t) => {
  const dir = h.tmpDir(t)
  const name = 'by'
  const by = await h.hold(t, { name, dir, handler: 'SIGTERM' })
  by.send('release')
  await by.next((m) => m.released)
  const lock = path.join(dir, `${name}.lock`)
  const fl = await flockHolder(t, lock)

  const st = pg.status(name, { dir })
  assert.equal(st.state, 'held')
  assert.ok(!st.holders.some((x) => x.pid === by.pid), `the bystander is not named: ${JSON.stringify(st.holders)}`)
  assert.ok(st.holders.some((x) => x.pid === fl.pid && x.verified), `flock(1) is named, proven by the kernel: ${JSON.stringify(st.holders)}`)

  const e = (() => {
    try {
      pg.acquire(name, { dir })
    } catch (err) {
      return err
    }
  })()
  assert.equal(e?.code, 'ELOCKED')
  assert.match(e.message, new RegExp(`pid ${fl.pid}\\b`))
  assert.doesNotMatch(e.message, new RegExp(`\\b${by.pid}\\b`))

  // stop reaches the real holders (the test's own flock and sleep), never the bystander.
  const r = await pg.stop(name, { dir, timeoutMs: 5000 })
  assert.ok(!r.stopped.some((s) => s.pid === by.pid), JSON.stringify(r))
  assert.ok(r.stopped.some((s) => s.pid === fl.pid), JSON.stringify(r))
  // A round trip through the bystander: any signal it got was printed before this answer.
  const n = by.lines.length
  by.send('status')
  await by.next((m) => m.status)
  assert.deepEqual(by.lines.slice(0, n + 1).filter((m) => m.signal), [], 'the bystander got no signal')
  assert.ok(h.isRunning(by.pid))
})

test('a locker killed while its child keeps the fd: status and ELOCKED name the child, never the dead locker', { skip: !linux || !has('flock') }, async (t) => {
  const dir = h.tmpDir(t)
  const name = 'orph'
  const lock = path.join(dir, `${name}.lock`)
  fs.writeFileSync(lock, '', { mode: 0o600 })
  const fl = await flockHolder(t, lock)
  fl.child.kill('SIGKILL')
  await fl.exited
  assert.ok(!h.isRunning(fl.pid))
  await waitBusy(lock)

  const st = pg.status(name, { dir })
  assert.equal(st.state, 'held')
  assert.ok(!st.holders.some((x) => x.pid === fl.pid), `the dead locker is not named: ${JSON.stringify(st.holders)}`)
  assert.deepEqual(
    st.holders.map((x) => [x.pid, x.alive, x.verified]),
    [[fl.kid, true, true]],
  )
  const t0 = Date.now()
  const e = (() => {
    try {
      pg.acquire(name, { dir })
    } catch (err) {
      return err
    }
  })()
  assert.ok(Date.now() - t0 < 1000)
  assert.equal(e?.code, 'ELOCKED')
  assert.match(e.message, new RegExp(`pid ${fl.kid}\\b`))
  assert.doesNotMatch(e.message, new RegExp(`\\b${fl.pid}\\b`))
  assert.equal(e.holder.pid, fl.kid)
})

// Inside a fresh PID namespace the test controls which pid comes next: the dead locker's pid is
// handed to an innocent process, and the lock file is touched so its mtime falls in the window
// the old start-time heuristic accepted.
const REUSE = `
  const fs = require('node:fs')
  const path = require('node:path')
  const { spawn, execFileSync } = require('node:child_process')
  const pg = require(${JSON.stringify(ROOT)})
  const dir = process.argv[1]
  const lock = path.join(dir, 'reuse.lock')
  const out = {}
  const busy = () => { try { execFileSync('flock', ['-n', '-s', lock, 'true']); return false } catch { return true } }
  const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
  ;(async () => {
    fs.writeFileSync(lock, '', { mode: 0o600 })
    const fl = spawn('flock', [lock, 'sleep', '1000'], { stdio: 'ignore' })
    for (let i = 0; i < 500 && !busy(); i++) sleep(10)
    let kid
    for (let i = 0; i < 500 && !kid; i++) { kid = Number(fs.readFileSync('/proc/' + fl.pid + '/task/' + fl.pid + '/children', 'utf8').trim().split(' ')[0]) || 0; if (!kid) sleep(10) }
    const dead = fl.pid
    fl.kill('SIGKILL')
    await new Promise((r) => fl.on('exit', r))
    fs.writeFileSync('/proc/sys/kernel/ns_last_pid', String(dead - 1))
    const inn = spawn(process.execPath, ['-e', ${JSON.stringify(INNOCENT)}], { stdio: ['pipe', 'pipe', 'inherit'] })
    let buf = ''
    const lines = []
    inn.stdout.setEncoding('utf8').on('data', (d) => { buf += d; for (let i; (i = buf.indexOf('\\n')) >= 0; buf = buf.slice(i + 1)) lines.push(JSON.parse(buf.slice(0, i))) })
    while (!lines.some((l) => l.ready)) await new Promise((r) => setTimeout(r, 10))
    const now = new Date()
    fs.utimesSync(lock, now, now)
    out.dead = dead
    out.kid = kid
    out.innocent = inn.pid
    out.status = pg.status('reuse', { dir }).holders.map((x) => ({ pid: x.pid, verified: x.verified }))
    try { pg.acquire('reuse', { dir }) } catch (e) { out.acquire = { code: e.code, message: e.message } }
    try { out.stop = await pg.stop('reuse', { dir, timeoutMs: 3000 }) } catch (e) { out.stop = { code: e.code, message: e.message } }
    // The holder (sleep) is gone now if stop reached it; start another flock holder with the
    // same dead-locker trick for takeover.
    try { const g = await pg.acquireAsync('reuse', { dir, onConflict: 'takeover', graceMs: 500, timeoutMs: 2000 }); out.takeover = 'acquired'; g.release() } catch (e) { out.takeover = { code: e.code, message: e.message } }
    inn.stdin.write('x\\n')
    while (!lines.some((l) => l.alive)) await new Promise((r) => setTimeout(r, 10))
    out.innocentSignals = lines.filter((l) => l.signal)
    inn.kill('SIGKILL')
    try { process.kill(kid, 'SIGKILL') } catch {}
    process.stdout.write(JSON.stringify(out))
    process.exit(0)
  })()
`

test('a dead locker\'s pid reused by an innocent process: stop and takeover never signal it', { skip: !canUnshare || !has('flock') }, async (t) => {
  const dir = h.tmpDir(t)
  const child = h.track(t, spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', process.execPath, '-e', REUSE, dir], { stdio: ['ignore', 'pipe', 'pipe'] }))
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  await h.withDeadline(new Promise((r) => child.on('close', r)), 30000, 'reuse scenario')
  const out = JSON.parse(stdout || `{"stderr":${JSON.stringify(stderr)}}`)
  assert.equal(out.innocent, out.dead, `the innocent got the dead locker's pid: ${stdout} ${stderr}`)
  assert.ok(!out.status.some((x) => x.pid === out.dead), JSON.stringify(out))
  assert.equal(out.acquire.code, 'ELOCKED')
  assert.doesNotMatch(out.acquire.message, new RegExp(`\\b${out.dead}\\b`))
  assert.match(out.acquire.message, new RegExp(`pid ${out.kid}\\b`))
  assert.ok(!out.stop.stopped?.some((s) => s.pid === out.dead), JSON.stringify(out.stop))
  assert.deepEqual(out.innocentSignals, [], JSON.stringify(out))
})

/** Runs `code` with node inside a fresh PID namespace: { code, stdout, stderr }. */
function inChildNs(t, code, args = []) {
  const child = h.track(t, spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', process.execPath, '-e', code, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }))
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  return h.withDeadline(new Promise((r) => child.on('close', (c) => r({ code: c, stdout, stderr }))), 30000, 'child namespace')
}

const VIEW = `
  const pg = require(${JSON.stringify(ROOT)})
  const dir = process.argv[1], name = process.argv[2], mode = process.argv[3] || 'exclusive'
  const out = { status: pg.status(name, { dir }) }
  const t0 = process.hrtime.bigint()
  try { pg.acquire(name, { dir, mode }).release(); out.acquire = 'acquired' } catch (e) { out.acquire = { code: e.code, message: e.message } }
  out.acquireMs = Number(process.hrtime.bigint() - t0) / 1e6
  const hs = pg.healthSync(name, { dir })
  out.health = { alive: hs.alive, pid: hs.pid, problems: hs.problems }
  process.stdout.write(JSON.stringify(out))
`

test('from a child PID namespace, a guard held in the parent is held: status says so and acquire throws ELOCKED at once', { skip: !canUnshare }, async (t) => {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'ns', dir })
  for (const mode of ['exclusive', 'shared']) {
    const r = await inChildNs(t, VIEW, [dir, 'ns', mode])
    const out = JSON.parse(r.stdout || `{"stderr":${JSON.stringify(r.stderr)}}`)
    assert.equal(out.status?.state, 'held', r.stdout + r.stderr)
    assert.ok(out.status.holders.every((x) => x.pid !== holder.pid && !x.verified), 'a pid of another namespace is never judged here')
    assert.equal(out.acquire.code, 'ELOCKED', JSON.stringify(out.acquire))
    assert.ok(out.acquireMs < 1000, `ELOCKED at once, not after retries: ${out.acquireMs} ms`)
    assert.doesNotMatch(out.acquire.message, /Remove|delete/i)
    // health: running (figures unknown from here), never "not running" for a liveness probe.
    assert.equal(out.health.alive, true, JSON.stringify(out.health))
    assert.ok(!out.health.problems.some((m) => /not running|no process holds|not held/.test(m)), JSON.stringify(out.health))
  }
  assert.ok(h.isRunning(holder.pid))
})

test('a holder in a child PID namespace, seen from the parent: held by its parent-namespace pid, ELOCKED at once, and stop reaches it', { skip: !canUnshare }, async (t) => {
  const dir = h.tmpDir(t)
  const HOLD = `
    const pg = require(${JSON.stringify(ROOT)})
    const g = pg.acquire('cns', { dir: process.argv[1] })
    process.stdout.write(JSON.stringify({ ready: true, pid: process.pid }) + '\\n')
    setInterval(() => {}, 1 << 30)
  `
  // sh keeps node at pid 2 inside (pid 2 here is kthreadd: another process, alive).
  const child = h.track(t, spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', 'sh', '-c', `"$0" -e "$1" "$2"; exit 0`, process.execPath, HOLD, dir], { stdio: ['ignore', 'pipe', 'inherit'] }))
  let buf = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (buf += d))
  const inner = await h.waitFor(() => buf.includes('\n') && JSON.parse(buf.split('\n')[0]), 'holder in child ns')
  assert.equal(inner.pid, 2)
  const outer = await h.waitFor(() => {
    const sh = childrenOf(child.pid)[0]
    return sh && childrenOf(sh)[0]
  }, 'outer pid of the holder')
  const st = pg.status('cns', { dir })
  assert.equal(st.state, 'held')
  assert.deepEqual(st.holders.map((x) => [x.pid, x.verified]), [[outer, true]])
  const t0 = Date.now()
  assert.throws(() => pg.acquire('cns', { dir }), (e) => e.code === 'ELOCKED' && new RegExp(`pid ${outer}\\b`).test(e.message))
  assert.ok(Date.now() - t0 < 1000)
  const r = await pg.stop('cns', { dir, timeoutMs: 5000 })
  assert.deepEqual(r.stopped.map((s) => s.pid), [outer])
})

test('a shared acquirer in the parent namespace never deletes the files of a live shared holder in a child namespace', { skip: !canUnshare }, async (t) => {
  const dir = h.tmpDir(t)
  const HOLD = `
    const pg = require(${JSON.stringify(ROOT)})
    const g = pg.acquire('shns', { dir: process.argv[1], mode: 'shared' })
    process.stdout.write(JSON.stringify({ ready: true, pid: process.pid }) + '\\n')
    setInterval(() => {}, 1 << 30)
  `
  const child = h.track(t, spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', 'sh', '-c', `"$0" -e "$1" "$2"; exit 0`, process.execPath, HOLD, dir], { stdio: ['ignore', 'pipe', 'inherit'] }))
  let buf = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (buf += d))
  const inner = await h.waitFor(() => buf.includes('\n') && JSON.parse(buf.split('\n')[0]), 'shared holder in child ns')
  assert.equal(inner.pid, 2)
  const files = ['2.pid', '2.json'].map((f) => path.join(dir, 'shns.shared', f))
  for (const f of files) assert.ok(fs.existsSync(f), f)
  const g = pg.acquire('shns', { dir, mode: 'shared' })
  t.after(() => g.release())
  for (const f of files) assert.ok(fs.existsSync(f), `${f} of a live holder was deleted`)
  assert.deepEqual(g.recovered, [])
  const st = pg.status('shns', { dir })
  assert.equal(st.state, 'held')
  assert.equal(st.mode, 'shared')
})

test('another user\'s live holder: root gets ELOCKED with its uid, and no message says to remove anything', { skip: !isRoot || !linux || !has('runuser') }, async (t) => {
  const dir = h.tmpDir(t)
  fs.chmodSync(dir, 0o1777)
  const HOLD = `
    const pg = require(${JSON.stringify(ROOT)})
    const g = pg.acquire('other', { dir: process.argv[1] })
    process.stdout.write(JSON.stringify({ ready: true, pid: process.pid, uid: process.getuid() }) + '\\n')
    setInterval(() => {}, 1 << 30)
  `
  const child = h.track(t, spawn('runuser', ['-u', 'nobody', '--', process.execPath, '-e', HOLD, dir], { stdio: ['ignore', 'pipe', 'inherit'] }))
  let buf = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (buf += d))
  const inner = await h.waitFor(() => buf.includes('\n') && JSON.parse(buf.split('\n')[0]), 'holder as nobody')
  // runuser does not pass SIGKILL on: the holder itself is the test's to end.
  t.after(() => h.isRunning(inner.pid) && process.kill(inner.pid, 'SIGKILL'))
  const uid = inner.uid
  assert.notEqual(uid, 0)
  let e
  try {
    pg.acquire('other', { dir })
  } catch (err) {
    e = err
  }
  assert.equal(e?.code, 'ELOCKED', `${e?.code}: ${e?.message}`)
  assert.match(e.message, new RegExp(`uid ${uid}\\b`))
  assert.doesNotMatch(e.message, /remove|delete/i)
  assert.equal(e.holder.pid, inner.pid)
  assert.equal(e.holder.uid, uid)
  const st = pg.status('other', { dir })
  assert.equal(st.state, 'held')
  assert.equal(st.holders[0].uid, uid)
  assert.throws(() => pg.acquire('other', { dir, mode: 'shared' }), (x) => x.code === 'ELOCKED' && !/remove|delete/i.test(x.message))
})

test('another user\'s live shared holder: joining it is refused without advice to remove the file it holds', { skip: !isRoot || !linux || !has('runuser') }, async (t) => {
  const dir = h.tmpDir(t)
  fs.chmodSync(dir, 0o1777)
  const HOLD = `
    const pg = require(${JSON.stringify(ROOT)})
    const g = pg.acquire('othersh', { dir: process.argv[1], mode: 'shared' })
    process.stdout.write(JSON.stringify({ ready: true, pid: process.pid, uid: process.getuid() }) + '\\n')
    setInterval(() => {}, 1 << 30)
  `
  const child = h.track(t, spawn('runuser', ['-u', 'nobody', '--', process.execPath, '-e', HOLD, dir], { stdio: ['ignore', 'pipe', 'inherit'] }))
  let buf = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (buf += d))
  const inner = await h.waitFor(() => buf.includes('\n') && JSON.parse(buf.split('\n')[0]), 'shared holder as nobody')
  t.after(() => h.isRunning(inner.pid) && process.kill(inner.pid, 'SIGKILL'))
  // Exclusive: ELOCKED naming the shared holder and its uid.
  assert.throws(() => pg.acquire('othersh', { dir }), (x) => x.code === 'ELOCKED' && new RegExp(`pid ${inner.pid}\\b`).test(x.message) && !/remove|delete/i.test(x.message))
  // Shared: the lock is compatible, but root does not write into another user's guard; the
  // advice never says to remove a file live holders use.
  let e
  try {
    pg.acquire('othersh', { dir, mode: 'shared' }).release()
  } catch (err) {
    e = err
  }
  assert.equal(e?.code, 'EUNSAFEFILE', e?.message)
  assert.match(e.message, new RegExp(`uid ${inner.uid}\\b`))
  assert.doesNotMatch(e.message, /\bRemove it\b/)
  assert.match(e.message, /once no process holds it/)
  assert.ok(h.isRunning(inner.pid))
})

const canOverlay = (() => {
  if (!linux || !isRoot) return false
  try {
    return fs.readFileSync('/proc/filesystems', 'utf8').includes('overlay') && fs.existsSync('/dev/shm')
  } catch {
    return false
  }
})()

test('overlayfs whose layers span filesystems (st_dev differs from the lock table\'s device): a held guard is held, ELOCKED at once', { skip: !canOverlay }, async (t) => {
  const base = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pg-ovl-'))
  const lower = fs.mkdtempSync('/dev/shm/pg-ovl-lower-')
  t.after(() => fs.rmSync(lower, { recursive: true, force: true }))
  for (const d of ['upper', 'work', 'merged']) fs.mkdirSync(path.join(base, d))
  const merged = path.join(base, 'merged')
  try {
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${base}/upper,workdir=${base}/work`, merged], { stdio: 'ignore' })
  } catch {
    fs.rmSync(base, { recursive: true, force: true })
    t.skip('overlay mount refused here')
    return
  }
  // Unmounted before the directories are removed (after hooks run in the order added).
  t.after(() => execFileSync('umount', ['-l', merged], { stdio: 'ignore' }))
  t.after(() => fs.rmSync(base, { recursive: true, force: true }))
  fs.chmodSync(merged, 0o700)
  const holder = await h.hold(t, { name: 'ovl', dir: merged })
  // The precondition of the attack: the device the lock table prints is not the file's st_dev.
  const st = fs.statSync(path.join(merged, 'ovl.lock'))
  const table = fs.readFileSync('/proc/locks', 'utf8')
  const dev = (d) => `${(Math.floor(d / 256) & 0xfff).toString(16).padStart(2, '0')}:${(d & 0xff).toString(16).padStart(2, '0')}:${st.ino}`
  assert.ok(!table.includes(dev(st.dev)), 'the lock table prints another device than st_dev')
  const r = await h.node(t, VIEW.replace('process.argv[1]', JSON.stringify(merged)).replace('process.argv[2]', '"ovl"').replace('process.argv[3]', 'undefined'))
  const out = JSON.parse(r.stdout || `{"stderr":${JSON.stringify(r.stderr)}}`)
  assert.equal(out.status?.state, 'held', r.stdout + r.stderr)
  assert.deepEqual(out.status.holders.map((x) => [x.pid, x.verified]), [[holder.pid, true]])
  assert.equal(out.acquire.code, 'ELOCKED', JSON.stringify(out.acquire))
  assert.ok(out.acquireMs < 1000, `${out.acquireMs} ms`)
  holder.child.kill('SIGKILL')
  await holder.exited
})

test('pid-guard run with a command that daemonizes: the daemon that keeps the lock is named and stopped, never the dead command', { skip: !linux }, async (t) => {
  const dir = h.tmpDir(t)
  const pidOut = path.join(dir, 'daemon')
  const r = await h.cli(t, ['run', 'dmn', '--dir', dir, '--', 'sh', '-c', `sleep 1000 >/dev/null 2>&1 & echo $! > ${pidOut}; exit 0`])
  assert.equal(r.code, 0, r.stderr)
  const daemon = Number(fs.readFileSync(pidOut, 'utf8'))
  t.after(() => h.isRunning(daemon) && process.kill(daemon, 'SIGKILL'))
  const recorded = JSON.parse(fs.readFileSync(path.join(dir, 'dmn.lock'), 'utf8').trim()).pid
  assert.notEqual(recorded, daemon)
  const st = pg.status('dmn', { dir })
  assert.equal(st.state, 'held')
  assert.deepEqual(st.holders.map((x) => [x.pid, x.verified]), [[daemon, true]])
  assert.throws(() => pg.acquire('dmn', { dir }), (e) => e.code === 'ELOCKED' && new RegExp(`pid ${daemon}\\b`).test(e.message) && !new RegExp(`\\b${recorded}\\b`).test(e.message))
  const s = await pg.stop('dmn', { dir, timeoutMs: 5000 })
  assert.deepEqual(s.stopped.map((x) => [x.pid, x.exited]), [[daemon, true]])
})
