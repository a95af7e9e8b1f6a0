'use strict'
// Issue 10, item 10 and issue 12: `pid-guard run`'s first milliseconds. run execs the command
// (Unix), so from the moment status names anyone it names the process that becomes the command:
// a stop then reaches it (pid-guard before the exec, or the command after) and the guard is free
// afterwards. A SIGTERM delivered to run's whole process group reaches the command exactly once.

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
  const child = h.track(t, spawn(h.BIN, ['run', name, '--mode', mode, '--dir', dir, '--', process.execPath, COUNTER, count, String(linger)], {
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

test('stop in run\'s first milliseconds stops the command too and frees the guard (20 trials)', { skip: h.posixOnly('reads /proc') }, async (t) => {
  const dir = h.tmpDir(t)
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
    if (named !== undefined) assert.equal(named, r.child.pid, 'status names the process that is (or becomes) the command')
    // The core may refuse for a moment while a pid file is already written and its record is
    // not yet ("left no record ... Nothing was signalled"): safe, and not run's doing
    // (an order inside acquire). Ask again then; anything else must stop at once.
    let report
    for (let ask = 0; ; ask++) {
      report = await stop(name, { dir, timeoutMs: 10000 }).catch((e) => e)
      if (!(report?.code === 'ENOTVERIFIED' && /left no record/.test(report.message) && ask < 50)) break
      refusedNoRecord++
    }
    assert.equal(report.ok, true, `trial ${trial}: stop reported ${report?.message ?? JSON.stringify(report)}`)
    await h.waitExit({ exited: r.reader.exited, pid: r.child.pid })
    await h.waitFor(() => status(name, { dir }).state !== 'held', `${name} to be free after stop (trial ${trial}, status named ${named}, run ${r.child.pid}: ${JSON.stringify(status(name, { dir }))})`, 5000)
    await h.waitFor(() => running(r.count).length === 0, `the command of ${name} to be gone (trial ${trial})`, 5000)
  }
  t.diagnostic(`stop refused (no record yet) ${refusedNoRecord} times`)
})

// Found by an outside attack on the JS wrapper: in shared mode the lock table still named the
// wrapper after the command took over its fd, so status listed two shared holders and stop
// signalled both. With exec there is one process: the lock table names the command itself.
test('stop of a shared `run` reaches its command exactly once', { skip: h.posixOnly('reads /proc') }, async (t) => {
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
    // detached: run leads its own process group, as a shell job or a service does.
    const r = startRun(t, dir, `group${trial}`, { linger: 400, detached: true })
    await r.reader.next((m) => m.ready)
    process.kill(-r.child.pid, 'SIGTERM') // the group this test just created
    const exit = await h.waitExit({ exited: r.reader.exited, pid: r.child.pid })
    assert.equal(r.terms(), 1, `trial ${trial}: the command counted ${r.terms()} SIGTERMs`)
    assert.deepEqual(exit, { code: null, signal: 'SIGTERM' }, 'run dies of the signal its command died of')
    assert.notEqual(status(`group${trial}`, { dir }).state, 'held')
  }
})

test('a SIGTERM to run\'s pid reaches the command exactly once: it is the command', { skip: h.posixOnly('reads /proc') }, async (t) => {
  const dir = h.tmpDir(t)
  const r = startRun(t, dir, 'direct', { linger: 400 })
  await r.reader.next((m) => m.ready)
  r.child.kill('SIGTERM')
  const exit = await h.waitExit({ exited: r.reader.exited, pid: r.child.pid })
  assert.equal(r.terms(), 1)
  assert.deepEqual(exit, { code: null, signal: 'SIGTERM' })
  assert.notEqual(status('direct', { dir }).state, 'held')
})

test('SIGKILL of run in its first milliseconds: before the exec nothing was started, after it the command dies; either way the guard is free and nothing is left (10 trials)', { skip: h.posixOnly('reads /proc') }, async (t) => {
  const dir = h.tmpDir(t)
  const { acquire } = require('..')
  for (let trial = 0; trial < 10; trial++) {
    const name = `killed${trial}`
    const r = startRun(t, dir, name)
    await h.waitFor(() => status(name, { dir }).holders[0]?.pid !== undefined || r.child.exitCode !== null, 'status to name a holder')
    r.child.kill('SIGKILL')
    assert.deepEqual(await r.reader.exited, { code: null, signal: 'SIGKILL' })
    assert.deepEqual(running(r.count), [], 'no process of it remains')
    assert.notEqual(status(name, { dir }).state, 'held', `trial ${trial}: nothing holds the guard`)
    acquire(name, { dir }).release()
  }
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

test('a SIGTERM while run --wait waits ends the wait: the command is never started, run dies of it', { skip: h.posixOnly('reads /proc') }, async (t) => {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'busy', dir })
  const marker = path.join(dir, 'started')
  const child = h.track(t, spawn(h.BIN, ['run', 'busy', '--dir', dir, '--wait', '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }))
  const reader = h.lineReader(child, 'run --wait')
  await waitOpen(child.pid, path.join(dir, 'busy.lock'), 'the waiting run to open the lock file')
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
  // python3 gives run a terminal (a new session with the pty as its controlling
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
  const child = h.track(t, spawn('python3', ['-c', py, h.BIN, 'run', 'busy', '--dir', dir, '--wait', '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], {
    stdio: ['pipe', 'pipe', 'inherit'],
  }))
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
  const runPid = Number(await h.waitFor(() => out.match(/^(\d+)\n/)?.[1], 'the run pid'))
  await waitOpen(runPid, path.join(dir, 'busy.lock'), 'the waiting run to open the lock file')
  child.stdin.write('\n')
  await h.withDeadline(new Promise((r) => child.on('exit', r)), 15000, 'python3 did not finish')
  assert.match(out, /signal 2\b/, `run must die of SIGINT: ${out}`)
  assert.equal(fs.existsSync(marker), false, 'the command was not started')
})
