'use strict'
// Issue 10 item 7: pid-guard's signal hooks cooperate with the real signal-exit 3 and 4 and with
// the app's own handlers. A real child process is set up in a given order, sent a real signal,
// and must either die of that signal (nothing else wants it: released first) or run the app's
// own shutdown to completion (the app decides), whatever the load order.

const test = require('node:test')
const assert = require('node:assert')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { tmpDir, track, lineReader, waitExit, posixOnly } = require('./helpers')

// Signals sent to a process and its handlers: Windows has neither.
const POSIX_SIGNALS = posixOnly('signals and signal handlers')

const APP = path.join(__dirname, 'fixtures', 'signals-app.js')

async function start(t, steps, extra = {}) {
  const dir = tmpDir(t, 'pg-sig-')
  const child = track(
    t,
    spawn(process.execPath, [APP, JSON.stringify({ name: 'app', dir, steps, ...extra })], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PID_GUARD_LOG: '' },
    }),
  )
  const r = lineReader(child, `app ${steps.join(',')}`)
  const ready = await r.next((m) => m.ready)
  return { child, pid: child.pid, ...r, ready, dir }
}

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP']

// signal-exit loaded before or after acquire, alone or together: the process still dies of the
// signal, signal-exit's exit callbacks run, and the guard was released (no pid file left).
const DIE_CASES = [
  ['se3', 'acquire'],
  ['acquire', 'se3'],
  ['se4', 'acquire'],
  ['acquire', 'se4'],
  ['se3', 'acquire', 'se4'],
  ['se4', 'se3', 'acquire'],
  ['acquire', 'se4', 'se3'],
  ['acquire'],
]

for (const steps of DIE_CASES) {
  for (const sig of SIGNALS) {
    test(`dies of ${sig} with ${steps.join(' then ')}; released; signal-exit callbacks ran`, { skip: POSIX_SIGNALS }, async (t) => {
      const app = await start(t, steps)
      assert.ok(fs.existsSync(app.ready.pidPath), 'pid file while held')
      app.child.kill(sig)
      const ex = await waitExit(app)
      assert.deepEqual(ex, { code: null, signal: sig }, `stdout: ${JSON.stringify(app.lines)} stderr: ${app.stderr()}`)
      assert.ok(!fs.existsSync(app.ready.pidPath), 'the guard was released before dying')
      const versions = steps.filter((s) => s.startsWith('se')).map((s) => Number(s[2])).sort()
      const ran = app.lines.filter((l) => l.onExit).map((l) => l.version).sort()
      assert.deepEqual(ran, versions, 'each signal-exit ran its exit callbacks once')
      for (const l of app.lines.filter((l) => l.onExit)) assert.equal(l.onExit, sig)
    })
  }
}

// A signal-exit 4 callback that returns true keeps the process running: the guard stays held
// until the process really exits (found by an outside attack: it was released at the signal, and a
// second copy started beside the first), then it is released.
for (const steps of [['se4keep', 'acquire'], ['acquire', 'se4keep']]) {
  test(`signal-exit 4 keeping the process alive keeps the guard: ${steps.join(' then ')}`, { skip: POSIX_SIGNALS }, async (t) => {
    const { acquire } = require('..')
    const app = await start(t, steps, { shutdownMs: 300 })
    app.child.kill('SIGTERM')
    await app.next((m) => m.kept)
    assert.throws(() => acquire('app', { dir: app.dir }), (e) => e.code === 'ELOCKED', 'still held while it runs')
    assert.ok(fs.existsSync(app.ready.pidPath), 'pid file kept while it runs')
    const ex = await waitExit(app)
    assert.deepEqual(ex, { code: 0, signal: null })
    assert.ok(!fs.existsSync(app.ready.pidPath), 'released on the real exit')
    acquire('app', { dir: app.dir }).release()
  })
}

/** A second copy of pid-guard, as two versions in one node_modules tree would load it. */
function secondCopy(t) {
  const root = path.join(__dirname, '..')
  const dir = tmpDir(t, 'pg-copy-')
  for (const f of fs.readdirSync(root).filter((f) => /^(index\.js|binding\.js|package\.json|pid-guard\..+\.node)$/.test(f))) {
    fs.copyFileSync(path.join(root, f), path.join(dir, f))
  }
  fs.cpSync(path.join(root, 'lib'), path.join(dir, 'lib'), { recursive: true })
  return dir
}

// Found by an outside attack: with two copies loaded, each counted the other's listener as the
// app's, so nobody re-raised and the process ignored SIGTERM, SIGINT and SIGHUP.
for (const sig of SIGNALS) {
  test(`two copies of pid-guard in one process: ${sig} still kills it, both guards released`, { skip: POSIX_SIGNALS }, async (t) => {
    const app = await start(t, ['acquire', 'acquireCopy'], { copy: secondCopy(t) })
    app.child.kill(sig)
    const ex = await waitExit(app)
    assert.deepEqual(ex, { code: null, signal: sig }, `stderr: ${app.stderr()}`)
    assert.ok(!fs.existsSync(app.ready.pidPath) && !fs.existsSync(app.ready.copyPidPath), 'both released')
  })
}

test("two copies of pid-guard and the app's own once handler between them: the app decides", { skip: POSIX_SIGNALS }, async (t) => {
  const app = await start(t, ['acquire', 'once', 'acquireCopy'], { copy: secondCopy(t), signals: ['SIGTERM'] })
  app.child.kill('SIGTERM')
  await app.next((m) => m.handler === 'start')
  assert.ok(fs.existsSync(app.ready.pidPath) && fs.existsSync(app.ready.copyPidPath), 'held while the app shuts down')
  await app.next((m) => m.handler === 'done')
  assert.deepEqual(await waitExit(app), { code: 0, signal: null })
  assert.ok(!fs.existsSync(app.ready.pidPath) && !fs.existsSync(app.ready.copyPidPath), 'released on exit')
})

// Found by an outside attack: a container's main process is PID 1 of its namespace, and the
// kernel does not deliver a default-action signal to it: the re-raise did nothing, and the process
// went on running without its guard while a second copy took it.
test('PID 1 of a namespace (a container\'s main process): SIGTERM ends it with 143, never guard-less', { skip: (process.platform !== 'linux' || process.getuid?.() !== 0) && 'needs root on Linux for unshare --pid' }, async (t) => {
  const dir = tmpDir(t, 'pg-sig-')
  const child = track(t, spawn('unshare', ['--pid', '--fork', '--kill-child', process.execPath, APP, JSON.stringify({ name: 'app', dir, steps: ['acquire'] })], { stdio: ['ignore', 'pipe', 'pipe'] }))
  const r = lineReader(child, 'pid 1 app')
  const ready = await r.next((m) => m.ready)
  assert.equal(ready.pid, 1, 'the app is PID 1 of its namespace')
  // unshare forwards nothing: signal the app itself, through its pid in this namespace.
  const inner = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).map(Number)[0]
  process.kill(inner, 'SIGTERM')
  const ex = await waitExit({ ...r, pid: child.pid, child })
  assert.equal(ex.code, 143, `exit ${JSON.stringify(ex)} stderr: ${r.stderr()}`)
  assert.ok(!fs.existsSync(ready.pidPath), 'released before exiting')
})

// The app's own handler, in every shape and order: it runs to completion, the process exits 0
// when the app says so, and the guard is released on that exit (not before the handler decides).
const HANDLER_CASES = [
  ['once', 'acquire'],
  ['on', 'acquire'],
  ['onSelfRemove', 'acquire'],
  ['acquire', 'once'],
  ['acquire', 'onSelfRemove'],
  ['acquire', 'prependOnce'],
  ['once', 'se4', 'acquire'],
  ['se3', 'once', 'acquire'],
  ['acquire', 'se4', 'prependOnce'],
  ['onSelfRemove', 'acquire', 'se3', 'se4'],
]

for (const steps of HANDLER_CASES) {
  for (const sig of SIGNALS) {
    test(`the app's own ${sig} handler runs to completion with ${steps.join(' then ')}`, { skip: POSIX_SIGNALS }, async (t) => {
      const app = await start(t, steps)
      app.child.kill(sig)
      await app.next((m) => m.handler === 'start')
      // The guard stays held while the app shuts down: a new copy must not start yet.
      assert.ok(fs.existsSync(app.ready.pidPath), 'still held during the app shutdown')
      const ex = await waitExit(app)
      assert.deepEqual(ex, { code: 0, signal: null }, `stdout: ${JSON.stringify(app.lines)} stderr: ${app.stderr()}`)
      assert.ok(app.lines.some((l) => l.handler === 'done'), 'the app finished its shutdown')
      assert.ok(!fs.existsSync(app.ready.pidPath), 'released on exit')
    })
  }
}

// An app that stopped wanting the signal (its handler removed later) dies of it again.
for (const steps of [
  ['once', 'acquire', 'removeApp'],
  ['acquire', 'on', 'removeApp'],
  ['on', 'se4', 'acquire', 'removeApp'],
  ['se3', 'acquire', 'once', 'removeApp'],
]) {
  test(`dies of SIGTERM once the app removed its handler: ${steps.join(' then ')}`, { skip: POSIX_SIGNALS }, async (t) => {
    const app = await start(t, steps)
    app.child.kill('SIGTERM')
    const ex = await waitExit(app)
    assert.deepEqual(ex, { code: null, signal: 'SIGTERM' }, `stdout: ${JSON.stringify(app.lines)} stderr: ${app.stderr()}`)
    assert.ok(!fs.existsSync(app.ready.pidPath), 'released before dying')
  })
}
