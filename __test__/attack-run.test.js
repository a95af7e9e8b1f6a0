'use strict'
// Issue 10, item 10: `pid-guard run`'s first milliseconds. Until the record is handed over to
// the command, status names the wrapper: a stop that reaches the wrapper then must reach the
// command too, and the guard must be free afterwards. A SIGTERM delivered to the wrapper's
// whole process group must reach the command exactly once.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { status, stop } = require('..')
const h = require('./helpers')

const COUNTER = path.join(__dirname, 'fixtures', 'term-counter.js')

/** Pids of live processes whose command line mentions `tag` (only ones this test started). */
function running(tag) {
  const out = []
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    try {
      if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(tag) && h.isRunning(Number(p))) out.push(Number(p))
    } catch {}
  }
  return out
}

/** Starts `pid-guard run <name> -- node term-counter.js <count file> <linger>`. */
function startRun(t, dir, name, { linger = 0, detached = false, mode = 'exclusive' } = {}) {
  const count = path.join(dir, `${name}.count`)
  const child = h.track(t, spawn(process.execPath, [h.CLI, 'run', name, '--mode', mode, '--dir', dir, '--', process.execPath, COUNTER, count, String(linger)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
    env: { ...process.env, PID_GUARD_LOG: '' },
  }))
  // Whatever the outcome, nothing this test started may outlive it.
  t.after(() => {
    for (const pid of running(count)) {
      try { process.kill(pid, 'SIGKILL') } catch {}
    }
  })
  const reader = h.lineReader(child, `run ${name}`)
  return { child, reader, count, terms: () => (fs.existsSync(count) ? fs.readFileSync(count, 'utf8').split('\n').filter(Boolean).length : 0) }
}

test('stop in run\'s first milliseconds stops the command too and frees the guard (20 trials)', { skip: h.linuxOnly('reads /proc') }, async (t) => {
  const dir = h.tmpDir(t)
  let wrapperNamed = 0
  let refusedNoRecord = 0
  for (let trial = 0; trial < 20; trial++) {
    const name = `early${trial}`
    const r = startRun(t, dir, name)
    // As soon as status names anyone (no sleep: poll every turn of the event loop), stop it.
    let named
    await h.waitFor(() => {
      named = status(name, { dir }).holders[0]?.pid
      return named !== undefined || r.child.exitCode !== null
    }, `status to name a holder of ${name}`)
    if (named === r.child.pid) wrapperNamed++
    // The core may refuse for a moment while a pid file is already written and its record is
    // not yet ("left no record ... Nothing was signalled"): safe, and not the wrapper's doing
    // (an order inside acquire). Ask again then; anything else must stop at once.
    let report
    for (let ask = 0; ; ask++) {
      report = await stop(name, { dir, timeoutMs: 10000 }).catch((e) => e)
      if (!(report?.code === 'ENOTVERIFIED' && /left no record/.test(report.message) && ask < 50)) break
      refusedNoRecord++
    }
    assert.equal(report.ok, true, `trial ${trial}: stop reported ${report?.message ?? JSON.stringify(report)}`)
    await h.waitExit({ exited: r.reader.exited, pid: r.child.pid })
    await h.waitFor(() => status(name, { dir }).state === 'free', `${name} to be free after stop (trial ${trial}, status named ${named}, wrapper ${r.child.pid}: ${JSON.stringify(status(name, { dir }))})`, 5000)
    await h.waitFor(() => running(r.count).length === 0, `the command of ${name} to be gone (trial ${trial})`, 5000)
  }
  t.diagnostic(`status named the wrapper in ${wrapperNamed} of 20 trials; stop refused (no record yet) ${refusedNoRecord} times`)
})

// Found by an outside attack: in shared mode the lock table still names the wrapper after the
// command took over its fd, so status listed two shared holders and stop signalled both: the
// command got SIGTERM twice (once from stop, once forwarded by the wrapper).
test('stop of a shared `run` reaches its command exactly once', { skip: h.linuxOnly('reads /proc') }, async (t) => {
  const dir = h.tmpDir(t)
  for (let trial = 0; trial < 3; trial++) {
    const name = `shared${trial}`
    const r = startRun(t, dir, name, { linger: 400, mode: 'shared' })
    const ready = await r.reader.next((m) => m.ready)
    const st = status(name, { dir })
    assert.deepEqual(st.holders.map((x) => x.pid), [ready.ready], `one holder, the command: ${JSON.stringify(st.holders.map((x) => [x.pid, x.source]))}`)
    const report = await stop(name, { dir, timeoutMs: 10000 })
    assert.equal(report.ok, true, JSON.stringify(report))
    await h.waitExit({ exited: r.reader.exited, pid: r.child.pid })
    assert.equal(r.terms(), 1, `trial ${trial}: the command counted ${r.terms()} SIGTERMs`)
  }
})

test('a SIGTERM to run\'s whole process group reaches the command exactly once; run dies of it too', { skip: h.posixOnly('process groups') }, async (t) => {
  const dir = h.tmpDir(t)
  for (let trial = 0; trial < 5; trial++) {
    // detached: the wrapper leads its own process group, as a shell job or a service does.
    const r = startRun(t, dir, `group${trial}`, { linger: 400, detached: true })
    await r.reader.next((m) => m.ready)
    process.kill(-r.child.pid, 'SIGTERM') // the group this test just created
    const exit = await h.waitExit({ exited: r.reader.exited, pid: r.child.pid })
    assert.equal(r.terms(), 1, `trial ${trial}: the command counted ${r.terms()} SIGTERMs`)
    assert.deepEqual(exit, { code: null, signal: 'SIGTERM' }, 'run dies of the signal its command died of')
    assert.equal(status(`group${trial}`, { dir }).state, 'free')
  }
})

test('a SIGTERM to the wrapper alone reaches the command exactly once', { skip: h.linuxOnly('reads /proc') }, async (t) => {
  const dir = h.tmpDir(t)
  const r = startRun(t, dir, 'direct', { linger: 400 })
  await r.reader.next((m) => m.ready)
  r.child.kill('SIGTERM')
  const exit = await h.waitExit({ exited: r.reader.exited, pid: r.child.pid })
  assert.equal(r.terms(), 1)
  assert.deepEqual(exit, { code: null, signal: 'SIGTERM' })
  assert.equal(status('direct', { dir }).state, 'free')
})

test('SIGKILL of the wrapper in its first milliseconds: the lock stays with the command, and single-instance holds (10 trials)', { skip: h.linuxOnly('reads /proc') }, async (t) => {
  const dir = h.tmpDir(t)
  const { acquire } = require('..')
  const seen = { noCommand: 0, stopped: 0, refused: 0 }
  for (let trial = 0; trial < 10; trial++) {
    const name = `orphan${trial}`
    const r = startRun(t, dir, name)
    await h.waitFor(() => status(name, { dir }).holders[0]?.pid !== undefined || r.child.exitCode !== null, 'status to name a holder')
    r.child.kill('SIGKILL')
    await r.reader.exited
    let alive = running(r.count)
    if (alive.length === 0 && status(name, { dir }).state === 'held') {
      // Killed just after the fork: the child holds the inherited lock fd but has not exec'd the
      // command yet (its cmdline is still the wrapper's). The command is on its way.
      await h.waitFor(() => running(r.count).length > 0, 'the forked command to exec', 5000)
      alive = running(r.count)
    }
    if (alive.length === 0) {
      // Killed before the command was started: the kernel freed the lock with the wrapper.
      seen.noCommand++
      assert.notEqual(status(name, { dir }).state, 'held', 'no command, so nothing may hold the guard')
      continue
    }
    // The command was started: it holds the lock (fd 3), so a second copy cannot start.
    assert.equal(status(name, { dir }).state, 'held', 'the command kept the lock')
    assert.throws(() => acquire(name, { dir }), (e) => e.code === 'ELOCKED')
    const report = await stop(name, { dir, timeoutMs: 10000 }).catch((e) => e)
    if (report.ok) {
      seen.stopped++
      await h.waitFor(() => running(r.count).length === 0, 'the command to be stopped', 5000)
      await h.waitFor(() => status(name, { dir }).state !== 'held', 'the guard to be free', 5000)
    } else {
      // The record still named the dead wrapper (killed during spawn(), before the handover):
      // stop refuses and signals nobody; finding the real holder is issue 10 item 3.
      seen.refused++
      assert.equal(report.code, 'ENOTVERIFIED', String(report))
      assert.deepEqual(running(r.count), alive, 'nothing was signalled')
    }
  }
  t.diagnostic(`outcomes over 10 trials: ${JSON.stringify(seen)}`)
})

/** Resolves once process `pid` has the file `file` open (polls /proc/PID/fd). */
function waitOpen(pid, file, what) {
  const ino = fs.statSync(file).ino
  return h.waitFor(() => {
    try {
      return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try { return fs.statSync(`/proc/${pid}/fd/${fd}`).ino === ino } catch { return false }
      })
    } catch { return false }
  }, what)
}

test('a SIGTERM while run --wait waits ends the wait: the command is never started, run dies of it', { skip: h.linuxOnly('reads /proc') }, async (t) => {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'busy', dir })
  const marker = path.join(dir, 'started')
  const child = h.track(t, spawn(process.execPath, [h.CLI, 'run', 'busy', '--dir', dir, '--wait', '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }))
  const reader = h.lineReader(child, 'run --wait')
  await waitOpen(child.pid, path.join(dir, 'busy.lock'), 'the waiting wrapper to open the lock file')
  child.kill('SIGTERM')
  const exit = await h.waitExit({ exited: reader.exited, pid: child.pid })
  assert.deepEqual(exit, { code: null, signal: 'SIGTERM' }, reader.stderr())
  assert.equal(fs.existsSync(marker), false, 'the command was not started')
  assert.equal(status('busy', { dir }).holders[0].pid, holder.pid, 'the holder is untouched')
})

const havePython = require('node:child_process').spawnSync('python3', ['-c', 'import pty']).status === 0

test('on a terminal, Ctrl-C (SIGINT to the foreground group) while run --wait waits ends it', { skip: h.posixOnly('a python3 pty') || (!havePython && 'needs python3') }, async (t) => {
  const dir = h.tmpDir(t)
  await h.hold(t, { name: 'busy', dir })
  const marker = path.join(dir, 'started')
  // python3 gives the wrapper a terminal (a new session with the pty as its controlling
  // terminal) and, once told on stdin, types Ctrl-C into it: the kernel then sends SIGINT to
  // the terminal's foreground process group.
  const py = `
import os, pty, sys, select
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
sys.stdout.write("%d\\n" % pid); sys.stdout.flush()
sys.stdin.readline()
os.write(fd, b"\\x03")
while True:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            os.read(fd, 4096)
        except OSError:
            pass
    wpid, st = os.waitpid(pid, os.WNOHANG)
    if wpid:
        print("signal" if os.WIFSIGNALED(st) else "code", os.WTERMSIG(st) if os.WIFSIGNALED(st) else os.WEXITSTATUS(st), flush=True)
        break
`
  const child = h.track(t, spawn('python3', ['-c', py, process.execPath, h.CLI, 'run', 'busy', '--dir', dir, '--wait', '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], {
    stdio: ['pipe', 'pipe', 'inherit'],
  }))
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
  const wrapper = Number(await h.waitFor(() => out.match(/^(\d+)\n/)?.[1], 'the wrapper pid'))
  await waitOpen(wrapper, path.join(dir, 'busy.lock'), 'the waiting wrapper to open the lock file')
  child.stdin.write('\n')
  await h.withDeadline(new Promise((r) => child.on('exit', r)), 15000, 'python3 did not finish')
  assert.match(out, /signal 2\b/, `the wrapper must die of SIGINT: ${out}`)
  assert.equal(fs.existsSync(marker), false, 'the command was not started')
})
