'use strict'
// `pid-guard run` and `pid-guard stop`, with real processes and the native binary: run execs
// the command (Unix), so the command is the process run was started as, it holds the guard (its
// pid in the pid file, the lock as fd 3), a SIGTERM reaches it directly and its exit is run's.
// See run-exec.test.js for the exec itself.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { acquire, status, PidGuardError } = require('..')
const h = require('./helpers')

// The command: prints {"ready":pid} (and whether it got the lock as fd 3); exits 0 on SIGTERM.
const SERVICE = `
process.on('SIGTERM', () => { console.log(JSON.stringify({ term: process.pid })); process.exit(0) })
console.log(JSON.stringify({ ready: process.pid, fd3: (() => { try { return require('fs').fstatSync(3).isFile() } catch { return false } })() }))
setInterval(() => {}, 1 << 30)
`

/** Starts `pid-guard run <name> [opts] -- node -e SERVICE`; resolves once the command is ready. */
async function startRun(t, name, dir, opts = []) {
  const child = h.track(
    t,
    spawn(h.BIN, ['run', name, '--dir', dir, ...opts, '--', process.execPath, '-e', SERVICE], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PID_GUARD_LOG: '' },
    }),
  )
  const r = h.lineReader(child, `run ${name}`)
  const msg = await r.next((m) => m.ready)
  return { child, reader: r, wrapper: child.pid, command: msg.ready, fd3: msg.fd3 }
}

test('run: the pid file names the command, which holds the lock as fd 3; SIGTERM reaches it and its exit is run\'s', { skip: h.posixOnly('exec, the lock as fd 3') }, async (t) => {
  const dir = h.tmpDir(t)
  const r = await startRun(t, 'svc', dir, ['--port', '8080', '--meta', 'version=1.2.3'])
  assert.equal(r.command, r.wrapper, 'run execs the command: no wrapper process')
  assert.equal(r.fd3, true, 'the command inherited the lock file as fd 3')
  assert.equal(fs.readFileSync(path.join(dir, 'svc.pid'), 'utf8'), `${r.command}\n`)
  const st = status('svc', { dir })
  assert.equal(st.state, 'held')
  assert.equal(st.holders[0].pid, r.command)
  assert.equal(st.holders[0].verified, true, 'the record names the command')
  assert.deepEqual({ port: st.holders[0].meta.port, version: st.holders[0].meta.version }, { port: 8080, version: '1.2.3' })

  r.child.kill('SIGTERM') // the command itself: the test started it as run
  await r.reader.next((m) => m.term === r.command)
  const exit = await h.waitExit({ exited: r.reader.exited, pid: r.wrapper })
  assert.deepEqual(exit, { code: 0, signal: null }, 'the command exited 0 after SIGTERM, so does run')
  // Nothing is left to remove the pid file once the command is gone: it names a dead process
  // (stale) and the lock is free; the next acquire cleans it.
  const after = status('svc', { dir })
  assert.equal(after.state, 'stale')
  assert.match(after.staleReason, new RegExp(`${r.command} is not running`))
})

test('run: the exit code of the command is the exit code of run', async (t) => {
  const dir = h.tmpDir(t)
  const r = await h.cli(t, ['run', 'job', '--dir', dir, '--', process.execPath, '-e', 'process.exit(7)'])
  assert.equal(r.code, 7)
  assert.notEqual(status('job', { dir }).state, 'held')
  const missing = await h.cli(t, ['run', 'job', '--dir', dir, '--', 'pid-guard-no-such-command'])
  assert.equal(missing.code, 127)
  assert.match(missing.stderr, /cannot start "pid-guard-no-such-command"/)
  assert.notEqual(status('job', { dir }).state, 'held', 'a command that never started holds nothing')
})

test('run: -h and --help after -- belong to the command, not to pid-guard', async (t) => {
  const dir = h.tmpDir(t)
  const show = path.join(dir, 'show-args.js')
  fs.writeFileSync(show, 'console.log(JSON.stringify(process.argv.slice(2)))\n')
  for (const flag of ['-h', '--help']) {
    const r = await h.cli(t, ['run', 'job', '--dir', dir, '--', process.execPath, show, flag, 'db'])
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout), [flag, 'db'], `the command ran with ${flag}: ${r.stdout}`)
  }
  // Before the --, it is still pid-guard's own help.
  const own = await h.cli(t, ['run', '--help'])
  assert.equal(own.code, 0)
  assert.match(own.stdout, /Usage: pid-guard run/)
})

test('run: SIGKILL of the command frees the guard (no wrapper keeps it); the next acquire cleans what it left', { skip: h.posixOnly('exec') }, async (t) => {
  const dir = h.tmpDir(t)
  const r = await startRun(t, 'svc', dir)
  assert.throws(() => acquire('svc', { dir }), (e) => e instanceof PidGuardError && e.code === 'ELOCKED' && e.holder.pid === r.command)
  r.child.kill('SIGKILL')
  await r.reader.exited
  assert.notEqual(status('svc', { dir }).state, 'held')
  const g = acquire('svc', { dir })
  t.after(() => g.release())
  assert.equal(g.recovered[0]?.pid, r.command, 'the killed command could not clean up; the next acquire did')
})

test('run: a held guard fails fast (exit 1) without starting the command; --takeover replaces the old copy', { skip: h.posixOnly('a SIGTERM handler in the command') }, async (t) => {
  const dir = h.tmpDir(t)
  const first = await startRun(t, 'svc', dir)
  const marker = path.join(dir, 'started')
  const second = await h.cli(t, ['run', 'svc', '--dir', dir, '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`])
  assert.equal(second.code, 1)
  assert.match(second.stderr, new RegExp(`already running \\(pid ${first.command}`))
  assert.equal(fs.existsSync(marker), false, 'the command was not started')

  const next = await startRun(t, 'svc', dir, ['--takeover=5000'])
  await first.reader.next((m) => m.term === first.command)
  assert.equal((await first.reader.exited).code, 0, 'the old copy was asked (SIGTERM) and exited')
  assert.equal(status('svc', { dir }).holders[0].pid, next.command)
  next.child.kill('SIGTERM')
  await next.reader.exited
})

test('stop: by name reaches the command behind run; refusals and usage errors have their exit codes', async (t) => {
  const dir = h.tmpDir(t)
  const r = await startRun(t, 'svc', dir)
  const stopped = await h.cli(t, ['stop', 'svc', '--dir', dir, '--json'])
  assert.equal(stopped.code, 0, stopped.stderr)
  const report = JSON.parse(stopped.stdout)
  // Unix: run execs, so the holder is the command. Windows: the wrapper holds the lock and is
  // the holder; ending it closes the job, which ends the command.
  const holder = h.WIN ? r.wrapper : r.command
  assert.deepEqual(report.stopped.map((s) => [s.pid, s.exited, s.signals]), [[holder, true, ['SIGTERM']]])
  // Windows: a windowless process is ended by TerminateProcess(pid, 1), and run exits so.
  assert.equal((await r.reader.exited).code, h.WIN ? 1 : 0)

  assert.equal((await h.cli(t, ['stop', 'svc', '--dir', dir])).code, 3, 'not running')
  const one = await h.cli(t, ['stop', '--pid', '1'])
  assert.equal(one.code, 1)
  assert.match(one.stderr, /never signalled/)
  assert.equal((await h.cli(t, ['stop', 'svc', '--pid', '5'])).code, 2)
  assert.equal((await h.cli(t, ['stop', '--port', 'http'])).code, 2)
})
