'use strict'
// Issue 13, orphans: a holder that started its server and was then killed (kill -9) leaves the
// server on the recorded port. Every process a holder spawns after acquire inherits its marker
// (PID_GUARD_HOLDER_<hash>=pid=.. start=.. guard=..): status names such processes as orphans,
// health and check fail naming them, stop / a takeover stop the verified ones, and a process
// with the same command line but without the marker is never touched. Real processes only.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn, execFileSync } = require('node:child_process')
const { acquire, status, stop, healthSync, PidGuardError } = require('..')
const h = require('./helpers')

const HOLDER = path.join(__dirname, 'fixtures', 'orphan-holder.js')
const SERVER = path.join(__dirname, 'fixtures', 'orphan-server.js')
const linux = process.platform === 'linux' ? false : 'markers are read from /proc/PID/environ (Linux)'
const isRoot = process.getuid?.() === 0

/** Start ticks of a process (field 22 of /proc/PID/stat), to recognise it later. */
function ticks(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return null
  }
}

/** Kills, after the test, a process the test started (through its holder) if it still runs. */
function reapLater(t, pid) {
  const started = ticks(pid)
  t.after(() => {
    if (started !== null && ticks(pid) === started && h.isRunning(pid)) process.kill(pid, 'SIGKILL')
  })
}

/** Starts the holder fixture in `mode`; resolves with its report and the live child. */
async function startHolder(t, dir, mode, name = 'web') {
  const child = h.track(t, spawn(process.execPath, [HOLDER, dir, name, mode], { stdio: ['ignore', 'pipe', 'inherit'] }))
  const info = await h.withDeadline(
    new Promise((resolve, reject) => {
      let buf = ''
      child.stdout.setEncoding('utf8').on('data', (d) => {
        buf += d
        if (buf.includes('\n')) resolve(JSON.parse(buf.slice(0, buf.indexOf('\n'))))
      })
      child.once('exit', (code) => reject(new Error(`holder exited early (${code})`)))
    }),
    15000,
    'the holder did not report',
  )
  for (const k of ['server', 'child', 'stray', 'unshare']) if (info[k]) reapLater(t, info[k])
  return { child, ...info }
}

/** A holder whose detached server outlives it: the holder is SIGKILLed. */
async function orphaned(t, mode = 'server', name = 'web') {
  const dir = h.tmpDir(t)
  const holder = await startHolder(t, dir, mode, name)
  const gone = new Promise((r) => holder.child.once('exit', r))
  holder.child.kill('SIGKILL')
  await gone
  return { dir, ...holder }
}

/** A process the test starts itself: same command line as the orphan, no marker. */
function bystander(t) {
  const child = h.track(t, spawn(process.execPath, [SERVER], { stdio: ['ignore', 'pipe', 'inherit'] }))
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve({ child, ...JSON.parse(String(d)) }))
    child.once('exit', (code) => reject(new Error(`bystander exited early (${code})`)))
  })
}

test('status of a killed holder whose server still runs: orphaned, naming the server (API, --json and human)', { skip: linux }, async (t) => {
  const o = await orphaned(t)
  const st = status('web', { dir: o.dir })
  assert.equal(st.state, 'orphaned', JSON.stringify(st))
  assert.equal(st.orphans.length, 1, JSON.stringify(st.orphans))
  const orphan = st.orphans[0]
  assert.equal(orphan.pid, o.server)
  assert.equal(orphan.verified, true, orphan.problem)
  assert.deepEqual(orphan.mark, { pid: o.holder, startId: st.holders[0].record.startId })
  assert.ok(orphan.ports.includes(o.port), JSON.stringify(orphan))
  assert.match(st.staleReason, new RegExp(`pid ${o.server} \\(.*orphan-server\\.js, serving port ${o.port}\\)`))

  const json = await h.cli(t, ['status', 'web', '--dir', o.dir, '--json'])
  assert.equal(json.code, 3, json.stderr)
  const parsed = JSON.parse(json.stdout)
  assert.equal(parsed.state, 'orphaned')
  assert.equal(parsed.orphans[0].pid, o.server)

  const human = await h.cli(t, ['status', 'web', '--dir', o.dir], { env: { NO_COLOR: '1' } })
  assert.equal(human.code, 3, human.stderr)
  assert.match(human.stdout, /^web: orphaned/m)
  assert.doesNotMatch(human.stdout, /\bfree\b/)
  assert.match(human.stdout, new RegExp(`orphan: pid ${o.server} .*port ${o.port}`))
  assert.match(human.stdout, /pid-guard stop web/)
})

test('health NAME of an orphaned guard: unhealthy, the holder is gone and pid X still serves port P', { skip: linux }, async (t) => {
  const o = await orphaned(t)
  const r = healthSync('web', { dir: o.dir })
  assert.equal(r.healthy, false)
  assert.equal(r.orphans[0].pid, o.server)
  assert.ok(
    r.problems.some((p) => p.includes(`the holder of "web" (pid ${o.holder}) is gone, and pid ${o.server}`) && p.includes(`still serves port ${o.port}`)),
    JSON.stringify(r.problems),
  )
  const cli = await h.cli(t, ['health', 'web', '--dir', o.dir], { env: { NO_COLOR: '1' } })
  assert.notEqual(cli.code, 0)
  assert.match(cli.stdout + cli.stderr, new RegExp(`pid ${o.server} .*still serves port ${o.port}`))
})

test('check exits 1 naming the orphan and how to stop it, and keeps the evidence', { skip: linux }, async (t) => {
  const o = await orphaned(t)
  const r = await h.cli(t, ['check', 'web', '--dir', o.dir])
  assert.equal(r.code, 1, r.stdout + r.stderr)
  assert.match(r.stderr, new RegExp(`pid ${o.server}`))
  assert.match(r.stderr, /pid-guard stop web/)
  assert.equal(h.isRunning(o.server), true, 'check signals nothing')
  // The record still names the dead holder and its port: status still sees the orphan.
  const again = await h.cli(t, ['check', 'web', '--dir', o.dir])
  assert.equal(again.code, 1, again.stdout + again.stderr)
  const st = status('web', { dir: o.dir })
  assert.equal(st.state, 'orphaned', JSON.stringify(st))
  assert.equal(st.orphans[0].pid, o.server)
  const rec = JSON.parse(fs.readFileSync(path.join(o.dir, 'web.lock'), 'utf8'))
  assert.deepEqual(rec.previous.map((p) => [p.mark.pid, p.port]), [[o.holder, o.port]])
})

test('stop NAME stops the verified orphan and only it; a bystander with the same command line is not signalled', { skip: linux }, async (t) => {
  const o = await orphaned(t)
  const other = await bystander(t)
  const report = await stop('web', { dir: o.dir, timeoutMs: 10000 })
  assert.equal(report.ok, true, JSON.stringify(report))
  assert.deepEqual(report.stopped.map((s) => s.pid), [o.server])
  await h.waitFor(() => !h.isRunning(o.server), 'the orphan to exit')
  assert.equal(h.isRunning(other.pid), true, 'the bystander was not signalled')
  assert.equal(other.child.signalCode, null)
  assert.equal(status('web', { dir: o.dir }).state, 'stale', 'the orphan is gone: only the dead holder\'s files are left')
})

test('stop --port P finds the guard that recorded P and stops its orphan', { skip: linux }, async (t) => {
  const o = await orphaned(t)
  const r = await h.cli(t, ['stop', '--port', String(o.port), '--dir', o.dir])
  assert.equal(r.code, 0, r.stdout + r.stderr)
  assert.match(r.stdout, new RegExp(`stopped pid ${o.server}`))
  await h.waitFor(() => !h.isRunning(o.server), 'the orphan to exit')
})

test("a restart's acquire reports the orphan in recovered; onConflict 'takeover' stops it", { skip: linux }, async (t) => {
  const o = await orphaned(t)
  const g = acquire('web', { dir: o.dir, meta: { port: o.port } })
  const rec = g.recovered.find((r) => r.orphans?.length)
  assert.ok(rec, JSON.stringify(g.recovered))
  assert.equal(rec.pid, o.holder)
  assert.equal(rec.orphans[0].pid, o.server)
  assert.match(rec.reason, new RegExp(`pid ${o.server} .*pid-guard stop web`))
  assert.equal(h.isRunning(o.server), true, 'a plain acquire signals nothing')
  // While the new holder holds, status still names the orphan it could not replace.
  assert.equal(status('web', { dir: o.dir }).orphans[0].pid, o.server)
  g.release()
  const t2 = acquire('web', { dir: o.dir, onConflict: 'takeover', graceMs: 5000 })
  t.after(() => t2.release())
  const rec2 = t2.recovered.find((r) => r.orphans?.length)
  assert.ok(rec2, JSON.stringify(t2.recovered))
  assert.equal(rec2.orphans[0].pid, o.server)
  assert.deepEqual(rec2.signals, ['SIGTERM'])
  await h.waitFor(() => !h.isRunning(o.server), 'the orphan to exit')
  assert.equal(status('web', { dir: o.dir }).orphans.length, 0)
  const rec3 = JSON.parse(fs.readFileSync(path.join(o.dir, 'web.lock'), 'utf8'))
  assert.equal(rec3.previous, undefined, 'the record stops carrying a holder whose orphans are gone')
})

test('health flags a stray session: a marked process no longer under the live holder', { skip: linux }, async (t) => {
  const dir = h.tmpDir(t)
  const holder = await startHolder(t, dir, 'stray')
  const r = healthSync('web', { dir })
  assert.deepEqual(r.strays.map((s) => s.pid), [holder.stray], JSON.stringify(r.strays))
  assert.ok(r.problems.some((p) => p.includes(`pid ${holder.stray}`) && p.includes('stray')), JSON.stringify(r.problems))
  assert.equal(r.healthy, false)
  assert.ok(!r.strays.some((s) => s.pid === holder.child), 'the direct child is the service\'s, not a stray')
  assert.equal(status('web', { dir }).state, 'held')
})

test("another user's orphan is unknown: named, never signalled by stop or takeover", { skip: linux || (!isRoot && 'needs root to start a process as nobody') }, async (t) => {
  const o = await orphaned(t, 'nobody')
  const st = status('web', { dir: o.dir })
  assert.equal(st.state, 'orphaned', JSON.stringify(st))
  assert.equal(st.orphans[0].pid, o.server)
  assert.equal(st.orphans[0].verified, false)
  assert.match(st.orphans[0].problem, /uid 65534/)
  await assert.rejects(stop('web', { dir: o.dir }), (e) => {
    assert.ok(e instanceof PidGuardError)
    assert.equal(e.code, 'ENOTVERIFIED')
    assert.match(e.message, /Nothing was signalled/)
    return true
  })
  const g = acquire('web', { dir: o.dir, onConflict: 'takeover', graceMs: 200 })
  const rec = g.recovered.find((r) => r.orphans?.length)
  assert.match(rec.reason, new RegExp(`pid ${o.server} not signalled`))
  g.release()
  assert.equal(h.isRunning(o.server), true, 'never signalled')
  const r = healthSync('web', { dir: o.dir })
  assert.equal(r.healthy, false)
  assert.ok(r.problems.some((p) => p.includes('not verified')), JSON.stringify(r.problems))
})

test('an orphan in another PID namespace is unknown: named, never signalled', { skip: linux || (!isRoot && 'needs root for unshare --pid') }, async (t) => {
  const o = await orphaned(t, 'pidns')
  // The server, as our namespace numbers it: the unshare process's only child.
  const nsPid = Number(fs.readFileSync(`/proc/${o.unshare}/task/${o.unshare}/children`, 'utf8').trim())
  reapLater(t, nsPid)
  const st = status('web', { dir: o.dir })
  assert.equal(st.state, 'orphaned', JSON.stringify(st))
  const inNs = st.orphans.find((x) => x.pid === nsPid)
  assert.ok(inNs, JSON.stringify(st.orphans))
  assert.notEqual(fs.readlinkSync(`/proc/${inNs.pid}/ns/pid`), fs.readlinkSync('/proc/self/ns/pid'))
  assert.equal(inNs.verified, false)
  assert.match(inNs.problem, /another PID namespace/)
  const report = await stop('web', { dir: o.dir, timeoutMs: 10000 })
  assert.deepEqual(report.stopped.map((s) => s.pid), [o.unshare], 'only the unshare process, in our namespace, is signalled')
  assert.deepEqual(report.notSignalled.map((n) => n.pid), [inNs.pid])
  assert.equal(report.ok, false)
  assert.equal(h.isRunning(inNs.pid), true, 'the process in the other namespace was never signalled')
})

test('the marker is set for children spawned while held and removed on release', { skip: linux }, async (t) => {
  const dir = h.tmpDir(t)
  const g = acquire('m', { dir })
  const keys = Object.keys(process.env).filter((k) => k.startsWith('PID_GUARD_HOLDER_'))
  assert.equal(keys.length, 1)
  assert.match(process.env[keys[0]], new RegExp(`^pid=${process.pid} start=\\S+ guard=.*m\\.lock$`))
  const g2 = acquire('n', { dir })
  assert.equal(Object.keys(process.env).filter((k) => k.startsWith('PID_GUARD_HOLDER_')).length, 2, 'one variable per guard')
  // A child spawned now (its environment defaults to process.env) carries it.
  const out = execFileSync(process.execPath, ['-e', `process.stdout.write(process.env[${JSON.stringify(keys[0])}] ?? 'none')`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  assert.equal(out, process.env[keys[0]])
  g.release()
  g2.release()
  assert.equal(process.env[keys[0]], undefined)
  assert.equal(Object.keys(process.env).filter((k) => k.startsWith('PID_GUARD_HOLDER_')).length, 0)
})

test('pid-guard run passes the marker to the command: a killed command leaves its detached server as an orphan', { skip: linux }, async (t) => {
  const dir = h.tmpDir(t)
  const script = `const { spawn, execFileSync } = require('node:child_process')
const c = spawn(process.execPath, [${JSON.stringify(SERVER)}], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] })
c.stdout.once('data', (d) => { process.stdout.write(d); c.stdout.destroy(); c.unref() })
setInterval(() => {}, 1 << 30)`
  const run = h.track(t, spawn(h.BIN, ['run', 'svc', '--dir', dir, '--', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] }))
  const server = await h.withDeadline(new Promise((resolve) => run.stdout.once('data', (d) => resolve(JSON.parse(String(d))))), 15000, 'the server did not start')
  reapLater(t, server.pid)
  const held = status('svc', { dir })
  assert.equal(held.state, 'held')
  const command = held.holders[0].pid
  reapLater(t, command)
  assert.equal(command, run.pid, 'run execs the command: the record names it, in the process run was')
  const env = fs.readFileSync(`/proc/${server.pid}/environ`, 'latin1').split('\0')
  assert.ok(env.some((kv) => kv.startsWith('PID_GUARD_HOLDER_') && kv.includes(`pid=${command} `)), 'the server carries the command\'s marker')
  const exited = new Promise((r) => run.once('exit', r))
  process.kill(command, 'SIGKILL')
  await exited
  const st = status('svc', { dir })
  assert.equal(st.state, 'orphaned', JSON.stringify(st))
  assert.deepEqual(st.orphans.map((o) => [o.pid, o.verified]), [[server.pid, true]])
  const report = await stop('svc', { dir, timeoutMs: 10000 })
  assert.deepEqual(report.stopped.map((s) => s.pid), [server.pid])
})

test('a holder stopped by SIGTERM (its exit hook releases cleanly) still leaves its server as an orphan, not free', { skip: linux }, async (t) => {
  const dir = h.tmpDir(t)
  const holder = await startHolder(t, dir, 'server')
  const gone = new Promise((r) => holder.child.once('exit', (code, signal) => r(signal)))
  holder.child.kill('SIGTERM')
  assert.equal(await gone, 'SIGTERM')
  assert.equal(fs.existsSync(path.join(dir, 'web.pid')), false, 'the hook released cleanly')
  const st = status('web', { dir })
  assert.equal(st.state, 'orphaned', JSON.stringify(st))
  assert.deepEqual(st.orphans.map((o) => o.pid), [holder.server])
  // A holder that releases by hand while its children run is not asked (no scan on release()).
  const g = acquire('plain', { dir })
  const child = h.track(t, spawn('sleep', ['60'], { stdio: 'ignore' }))
  g.release()
  assert.equal(status('plain', { dir }).state, 'free')
  child.kill()
})

// Suspected by the outside attacker: the holder's uid that vouches for an orphan came from the
// record, text that the lock file's owner writes. A record is believed only when its lock file
// belongs to that uid: a lock file owned by another user (here: given to nobody, as one planted in
// a shared directory would be) makes root's orphans unknown, and nothing is signalled.
test("a record in a lock file another user owns never vouches for this user's orphans", { skip: linux || (!isRoot && 'needs root to chown') }, async (t) => {
  const o = await orphaned(t)
  fs.chownSync(path.join(o.dir, 'web.lock'), 65534, 65534)
  const st = status('web', { dir: o.dir })
  const named = st.orphans.find((x) => x.pid === o.server)
  assert.ok(named, `the server is still named: ${JSON.stringify(st.orphans)}`)
  assert.equal(named.verified, false, JSON.stringify(named))
  const report = await stop('web', { dir: o.dir, timeoutMs: 2000 }).catch((e) => e)
  assert.ok(!report.stopped?.some((s) => s.pid === o.server), JSON.stringify(report))
  assert.equal(h.isRunning(o.server), true, 'the orphan was not signalled')
})
