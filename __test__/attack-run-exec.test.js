'use strict'
// Stop 16 attacks on the native `pid-guard run` (exec): a service a wrapper started adopts, a
// nested --takeover does not hold its own lock, --dir reaches the service, the caller's fds
// (socket activation) stay, a command that cannot start never costs the running one, a FIFO
// does not hang, and no message advises removing a live guard's file. Real processes.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const h = require('./helpers')

const ROOT = path.join(__dirname, '..')
const skip = process.platform !== 'linux' && 'Linux: /proc, setpriv'
const havePython = spawnSync('python3', ['-c', '0']).status === 0

/** A node script that acquires `web` in `dir` (argv[2], or none) and prints what it got. */
function appScript(dir) {
  const app = path.join(dir, 'app.js')
  fs.writeFileSync(app, `const pg = require(${JSON.stringify(ROOT)})
try {
  const g = pg.acquire('web', process.argv[2] ? { dir: process.argv[2] } : {})
  const pidFile = require('fs').readFileSync(g.pidPath, 'utf8').trim()
  console.log(JSON.stringify({ adopted: process.env.PID_GUARD_FD === undefined, lock: g.lockPath, pid: process.pid, pidFile, env: { dir: process.env.PID_GUARD_DIR, name: process.env.PID_GUARD_NAME } }))
  g.release()
} catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }
`)
  fs.chmodSync(app, 0o644)
  return app
}

const lastJson = (out) => JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).pop())

test('45: a service a forking wrapper started adopts the guard, and the pid file names it', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const app = appScript(dir)
  for (const wrap of [
    ['timeout', '20', process.execPath, app, dir],
    ['sh', '-c', 'cd / && "$0" "$@"', process.execPath, app, dir],
  ]) {
    const r = await h.cli(t, ['run', 'web', '--dir', dir, '--', ...wrap])
    assert.equal(r.code, 0, r.stderr)
    const got = lastJson(r.stdout)
    assert.equal(got.code, undefined, `${wrap[0]}: ${got.message}`)
    assert.equal(got.lock, path.join(dir, 'web.lock'))
    assert.equal(got.pidFile, String(got.pid), `${wrap[0]}: the pid file names the service, not the wrapper`)
  }
})

test('45: an unrelated process with the fd and variables (not a descendant of the holder) is not adopted', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const app = appScript(dir)
  // The holder is a sleep under run; the app is its sibling started by the test, with a copy
  // of an unlocked fd of the lock file on 3: never adopted, ELOCKED.
  const { spawn } = require('node:child_process')
  const holder = h.track(t, spawn(h.BIN, ['run', 'web', '--dir', dir, '--', 'sleep', '30'], { stdio: 'ignore' }))
  await h.waitFor(() => fs.existsSync(path.join(dir, 'web.pid')) && fs.readFileSync(path.join(dir, 'web.pid'), 'utf8').trim() === String(holder.pid), 'the holder')
  const fd = fs.openSync(path.join(dir, 'web.lock'), 'r')
  const r = spawnSync(process.execPath, [app, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe', fd], env: { ...process.env, PID_GUARD_FD: '3', PID_GUARD_NAME: 'web' } })
  fs.closeSync(fd)
  assert.equal(lastJson(r.stdout).code, 'ELOCKED')
  holder.kill('SIGTERM')
})

test('34: a service that runs `pid-guard run web --takeover -- v2` replaces itself with v2', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const out = path.join(dir, 'inner.out')
  // v1 is the outer sh (the takeover stops it); the inner run writes what v2 said.
  const inner = `${h.BIN} run web --dir ${dir} --takeover=300 -- sh -c 'echo new-started' > ${out} 2>&1`
  const r = await h.cli(t, ['run', 'web', '--dir', dir, '--', 'sh', '-c', inner])
  assert.equal(r.signal, 'SIGTERM', 'v1 was stopped by the takeover')
  const said = await h.waitFor(() => fs.existsSync(out) && /new-started|\n/.test(fs.readFileSync(out, 'utf8')) && fs.readFileSync(out, 'utf8'), 'the inner run', 20000)
  assert.match(said, /new-started/, `inner: ${said}`)
})

test('33: run --dir D: the service\'s acquire() without a dir adopts D\'s guard; PID_GUARD_DIR and PID_GUARD_NAME are set', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const home = h.tmpDir(t)
  const app = appScript(dir)
  assert.equal(process.env.PID_GUARD_DIR, undefined, 'the test runs without PID_GUARD_DIR')
  const r = await h.cli(t, ['run', 'web', '--dir', dir, '--', process.execPath, app], { env: { XDG_RUNTIME_DIR: home } })
  const got = lastJson(r.stdout)
  assert.equal(got.lock, path.join(dir, 'web.lock'), JSON.stringify(got))
  assert.equal(got.adopted, true)
  assert.equal(got.env.name, 'web')
  assert.equal(got.env.dir, dir)
})

test('35: under socket activation (LISTEN_FDS=1) fd 3 stays the caller\'s socket; the lock goes above it', { skip: skip || (!havePython && 'no python3') }, async (t) => {
  const dir = h.tmpDir(t)
  const py = `
import os, socket, sys
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
os.environ['LISTEN_FDS'] = '1'; os.environ['LISTEN_PID'] = str(os.getpid())
svc = "import os,stat; print(stat.S_ISSOCK(os.fstat(3).st_mode), os.environ['PID_GUARD_FD'], os.readlink('/proc/self/fd/' + os.environ['PID_GUARD_FD']))"
os.execv(sys.argv[1], [sys.argv[1], 'run', 'web', '--dir', sys.argv[2], '--', sys.executable, '-c', svc])
`
  const r = await h.runFile(t, 'python3', ['-c', py, h.BIN, dir])
  assert.equal(r.code, 0, r.stderr)
  const [sock, fd, target] = r.stdout.trim().split(' ')
  assert.equal(sock, 'True', r.stdout)
  assert.ok(Number(fd) >= 4, fd)
  assert.equal(target, path.join(dir, 'web.lock'))
})

test('35: a caller\'s fd 3 (a log) is left where it is; PID_GUARD_FD names the lock\'s fd', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const log = path.join(dir, 'log')
  const r = await h.runFile(t, 'sh', ['-c', `exec 3>>${log}; exec "$@"`, 'sh', h.BIN, 'run', 'web', '--dir', dir, '--', 'sh', '-c', 'echo to-log >&3; readlink /proc/self/fd/$PID_GUARD_FD'])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(fs.readFileSync(log, 'utf8'), 'to-log\n')
  assert.equal(r.stdout.trim(), path.join(dir, 'web.lock'))
})

test('36: --takeover to a script whose #! interpreter is missing (or CRLF) fails 127 and leaves v1 running', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const { spawn } = require('node:child_process')
  const v1 = h.track(t, spawn(h.BIN, ['run', 'web', '--dir', dir, '--', 'sleep', '30'], { stdio: 'ignore' }))
  const pidFile = path.join(dir, 'web.pid')
  await h.waitFor(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() === String(v1.pid), 'v1')
  const missing = path.join(dir, 'v2.sh')
  fs.writeFileSync(missing, '#!/usr/bin/no-such-runtime-20\nconsole.log(1)\n', { mode: 0o755 })
  const crlf = path.join(dir, 'v3.sh')
  fs.writeFileSync(crlf, '#!/bin/sh\r\necho hi\r\n', { mode: 0o755 })
  const a = await h.cli(t, ['run', 'web', '--dir', dir, '--takeover=500', '--', missing])
  assert.equal(a.code, 127, a.stderr)
  assert.match(a.stderr, /no-such-runtime-20/)
  const b = await h.cli(t, ['run', 'web', '--dir', dir, '--takeover=500', '--', crlf])
  assert.equal(b.code, 127, b.stderr)
  assert.match(b.stderr, /\\r|carriage return/)
  assert.ok(h.isRunning(v1.pid), 'v1 still runs')
  v1.kill('SIGTERM')
})

test('37: an executable FIFO as the command exits 126 at once', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const f = path.join(dir, 'f')
  assert.equal(spawnSync('mkfifo', [f]).status, 0)
  fs.chmodSync(f, 0o755)
  const r = await h.cli(t, ['run', 'x', '--dir', dir, '--', f], { timeout: 5000 })
  assert.equal(r.code, 126, r.stderr)
  assert.match(r.stderr, /not a regular file/)
})

test('44: --dir / PID_GUARD_DIR naming a live guard\'s lock or pid file never advises removing it', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const { spawn } = require('node:child_process')
  const s = h.track(t, spawn(h.BIN, ['run', 'web', '--dir', dir, '--', 'sleep', '30'], { stdio: 'ignore' }))
  const pidFile = path.join(dir, 'web.pid')
  await h.waitFor(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8').trim() === String(s.pid), 'the holder')
  const a = await h.cli(t, ['run', 'web', '--', 'true'], { env: { PID_GUARD_DIR: pidFile } })
  const b = await h.cli(t, ['run', 'web', '--dir', path.join(dir, 'web.lock'), '--', 'true'])
  for (const r of [a, b]) {
    assert.notEqual(r.code, 0)
    assert.doesNotMatch(r.stderr, /remove it/i)
    assert.match(r.stderr, new RegExp(`Pass the directory that holds it.*${dir.replace(/[/.]/g, '\\$&')}`))
  }
  s.kill('SIGTERM')
})

test('30: a backup hard-linked the live lock file: the adopting service is told to remove the other link, never the lock', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const app = path.join(dir, 'app.js')
  fs.writeFileSync(app, `const pg = require(${JSON.stringify(ROOT)}), fs = require('fs'), dir = process.argv[2]
fs.linkSync(dir + '/web.lock', dir + '/backup.lock')
try { pg.acquire('web', { dir }).release(); console.log(JSON.stringify({ ok: true })) }
catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }
`)
  const r = await h.cli(t, ['run', 'web', '--dir', dir, '--', process.execPath, app, dir])
  const got = lastJson(r.stdout)
  assert.equal(got.code, 'EUNSAFEFILE', r.stdout + r.stderr)
  assert.doesNotMatch(got.message, /Remove it/)
  assert.match(got.message, /OTHER link/)
})

test('30: a service that dropped privileges after run acquired is told to acquire before dropping them', { skip: skip || (process.getuid() !== 0 && 'needs root') }, async (t) => {
  const dir = h.tmpDir(t)
  fs.chmodSync(dir, 0o1777)
  const app = appScript(dir)
  const r = await h.cli(t, ['run', 'web', '--dir', dir, '--', 'setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, app, dir])
  const got = lastJson(r.stdout)
  assert.equal(got.code, 'EUNSAFEFILE', r.stdout + r.stderr)
  assert.doesNotMatch(got.message, /Remove it/)
  assert.match(got.message, /before dropping privileges/)
})

test('32: run as a PID namespace\'s init: status shows the guard held, and the pid file "1" is named as that init, never signalled', { skip: skip || (process.getuid() !== 0 && 'needs root for unshare --pid') }, async (t) => {
  const dir = h.tmpDir(t)
  const { spawn } = require('node:child_process')
  const u = h.track(t, spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', h.BIN, 'run', 'web', '--dir', dir, '--', 'sleep', '30'], { stdio: 'ignore' }))
  const pidFile = path.join(dir, 'web.pid')
  await h.waitFor(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8') === '1\n', 'the pid file')
  const st = await h.cli(t, ['status', 'web', '--dir', dir])
  assert.match(st.stdout, /held/)
  assert.match(st.stdout, /init of its PID namespace/)
  assert.match(st.stdout, /docker run --init/)
  u.kill('SIGKILL')
})

// Stop 17, attack 50: `run race -- sh -c 'node a & node b & wait'`: both siblings descend from
// the recorded holder (sh) and share its fd 3; both calling acquire() at the same instant must
// not both adopt (10 of 30 rounds did). One adopts, the other reads the rewritten record (a
// sibling, not an ancestor) and is refused.
test('50: two siblings of one run racing acquire(): exactly one adopts the guard', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const svc = path.join(dir, 'svc.js')
  fs.writeFileSync(svc, `const pg = require(${JSON.stringify(ROOT)})
const t = Number(process.argv[2])
while (Date.now() < t) {} // both start acquire() in the same millisecond
try { pg.acquire('race', { dir: process.env.DIR }); console.log('HOLD', process.pid) }
catch (e) { console.log('FAIL', process.pid, e.code) }
`)
  for (let round = 0; round < 20; round++) {
    const at = Date.now() + 300
    const r = spawnSync(h.BIN, ['run', 'race', '--dir', dir, '--', 'sh', '-c', `"$0" ${svc} ${at} & "$0" ${svc} ${at} & wait`, process.execPath], { env: { ...process.env, DIR: dir }, encoding: 'utf8', timeout: 30000 })
    const lines = r.stdout.trim().split('\n')
    assert.equal(lines.length, 2, `round ${round}: ${r.stdout}${r.stderr}`)
    assert.equal(lines.filter((l) => l.startsWith('HOLD')).length, 1, `round ${round}: ${r.stdout}`)
    assert.equal(lines.filter((l) => /^FAIL \d+ ELOCKED$/.test(l)).length, 1, `round ${round}: ${r.stdout}`)
  }
})

// Stop 17, attack 54: `run web -- sh -c 'worker & exec svc'`: svc is the recorded pid and adopts
// its own lock; the worker (its child, fd 3 inherited from sh before the exec) then called
// acquire() and adopted too, from its "ancestor", every time. Now the holder's own adoption
// marks the fd close-on-exec under the adoption turn, and the worker is refused.
test('54: a worker forked before the exec does not adopt the guard the service already adopted', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const ready = path.join(dir, 'svc-adopted')
  fs.writeFileSync(path.join(dir, 'svc.js'), `const g = require(${JSON.stringify(ROOT)}).acquire('web', { dir: process.env.DIR })
console.log('SVC', g.released)
require('fs').writeFileSync(${JSON.stringify(ready)}, '')
setTimeout(() => console.log('SVC-AFTER', g.released), 1500)
`)
  fs.writeFileSync(path.join(dir, 'worker.js'), `const fs = require('fs')
const end = Date.now() + 15000
const poll = () => {
  if (!fs.existsSync(${JSON.stringify(ready)})) return Date.now() < end ? setTimeout(poll, 5) : console.log('WORKER TIMEOUT')
  try { require(${JSON.stringify(ROOT)}).acquire('web', { dir: process.env.DIR }); console.log('WORKER HOLDS') }
  catch (e) { console.log('WORKER', e.code) }
}
poll()
`)
  const r = spawnSync(h.BIN, ['run', 'web', '--dir', dir, '--', 'sh', '-c', `"$0" ${dir}/worker.js & exec "$0" ${dir}/svc.js`, process.execPath], { env: { ...process.env, DIR: dir }, encoding: 'utf8', timeout: 30000 })
  const out = r.stdout
  assert.match(out, /^SVC false$/m, out + r.stderr)
  assert.match(out, /^WORKER ELOCKED$/m, out + r.stderr)
  assert.match(out, /^SVC-AFTER false$/m, out + r.stderr)
})
