'use strict'
// Issue 12: `pid-guard run` on Linux and macOS execs the command. No wrapper remains: the pid
// status names is the command's from the first instant, signals reach it once, its exit code
// and signal are what the parent sees, the lock is its fd 3 (PID_GUARD_FD) and lives exactly as
// long as it, and a service that acquires its own guard adopts it. Real processes, the native
// binary (h.BIN).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { acquire, status } = require('..')
const h = require('./helpers')

const ROOT = path.join(__dirname, '..')
const skip = h.posixOnly('exec')
const havePython = spawnSync('python3', ['-c', '0']).status === 0

/** `pid-guard run <name> --dir <dir> [opts] -- ...command`, started by the test. */
function startRun(t, name, dir, command, { opts = [], detached = false } = {}) {
  const child = h.track(t, spawn(h.BIN, ['run', name, '--dir', dir, ...opts, '--', ...command], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
    env: { ...process.env, PID_GUARD_LOG: '' },
  }))
  return { child, reader: h.lineReader(child, `run ${name}`) }
}

/** Runs a program with no stdin (a command that exits at once never meets a write to it). */
function runQuiet(t, file, args) {
  const child = h.track(t, spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PID_GUARD_LOG: '' } }))
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  return h.withDeadline(new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))), 15000, `${file} ${args.join(' ')}`)
}

test('run -- ls -h runs ls with -h: the output is ls\'s own', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const sub = path.join(dir, 'listed')
  fs.mkdirSync(sub)
  fs.writeFileSync(path.join(sub, 'big'), Buffer.alloc(4096))
  const direct = spawnSync('ls', ['-l', '-h', sub], { encoding: 'utf8' })
  const r = await h.cli(t, ['run', 'ls', '--dir', dir, '--', 'ls', '-l', '-h', sub])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, direct.stdout)
  assert.equal(r.stderr, '')
})

test('run: the first pid status names is the command, and it stays the same pid', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  for (let trial = 0; trial < 5; trial++) {
    const name = `first${trial}`
    const r = startRun(t, name, dir, [process.execPath, '-e', 'console.log(JSON.stringify({ ready: process.pid })); setInterval(() => {}, 1 << 30)'])
    const seen = new Set()
    let ready
    r.reader.next((m) => m.ready).then((m) => (ready = m.ready))
    // From the moment it is spawned: poll status on every turn until the command says ready.
    await h.waitFor(() => {
      const pid = status(name, { dir }).holders[0]?.pid
      if (pid !== undefined) seen.add(pid)
      return ready !== undefined && seen.size > 0
    }, `status to name the holder of ${name}`)
    assert.deepEqual([...seen], [ready], `status named ${[...seen]}; the command is ${ready}`)
    assert.equal(ready, r.child.pid, 'the command runs in the process run was started as')
    const st = status(name, { dir })
    assert.equal(st.holders[0].verified, true)
    assert.deepEqual(st.holders[0].record.cmdline, [process.execPath, '-e', st.holders[0].record.cmdline[2]])
    assert.equal(st.holders[0].record.exe, fs.realpathSync(process.execPath), 'the record names the command\'s executable, not pid-guard')
    assert.equal(st.holders[0].record.lockFd, 3)
    r.child.kill('SIGKILL')
    await r.reader.exited
  }
})

test('run: exit codes and deaths by signal are the command\'s own (7, SIGTERM, SIGPIPE, SIGXFSZ, SIGRTMIN+3)', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const cases = [
    ['sh', '-c', 'exit 7'],
    ['sh', '-c', 'kill -TERM $$'],
    // An ignored SIGPIPE would survive the exec (Rust's runtime ignores it): sh could not die of it.
    ['sh', '-c', 'kill -PIPE $$; exit 0'],
    ['sh', '-c', 'kill -XFSZ $$; exit 0'],
  ]
  if (havePython && process.platform === 'linux') cases.push(['python3', '-c', 'import os, signal; os.kill(os.getpid(), signal.SIGRTMIN + 3)'])
  for (const command of cases) {
    const direct = await runQuiet(t, command[0], command.slice(1))
    const viaRun = await runQuiet(t, h.BIN, ['run', 'exit', '--dir', dir, '--', ...command])
    assert.deepEqual({ code: viaRun.code, signal: viaRun.signal }, { code: direct.code, signal: direct.signal }, `${command.join(' ')}: ${viaRun.stderr}`)
    assert.equal(viaRun.stderr, '', 'nothing of pid-guard\'s is printed')
  }
})

const haveBash = spawnSync('bash', ['-c', 'true']).status === 0

test('run: output into a closed pipe ends the command quietly, by SIGPIPE as without run', { skip: skip || (!haveBash && 'needs bash') }, async (t) => {
  const dir = h.tmpDir(t)
  // A real pipe (Node's own stdio pipes are socket pairs: ECONNRESET, not EPIPE).
  const script = (cmd) => `${cmd} | head -c 2 >/dev/null; echo "\${PIPESTATUS[0]}"`
  const direct = await runQuiet(t, 'bash', ['-c', script('yes')])
  const viaRun = await runQuiet(t, 'bash', ['-c', script(`"${h.BIN}" run yes --dir "${dir}" -- yes`)])
  assert.equal(direct.stdout, '141\n', 'yes alone dies of SIGPIPE (128 + 13)')
  assert.equal(viaRun.stdout, direct.stdout)
  assert.equal(viaRun.stderr, '', 'nothing is printed')
})

/** `pid` and every descendant of it (from /proc), as a cgroup lists a service's processes. */
function tree(pid) {
  const parent = new Map()
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8')
      parent.set(Number(p), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {}
  }
  const out = [pid]
  for (let i = 0; i < out.length; i++) for (const [c, pp] of parent) if (pp === out[i]) out.push(c)
  return out
}

const lines = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [])

const SIGNAL_LOGGER = (log) => `const fs = require('fs')
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => { fs.appendFileSync(${JSON.stringify(log)}, s + '\\n'); setTimeout(() => { process.removeAllListeners(s); process.kill(process.pid, s) }, 300) })
console.log(JSON.stringify({ ready: process.pid }))
setInterval(() => {}, 1 << 30)`

test('run: a SIGTERM to the process group, or to each of its processes (systemd KillMode=control-group), reaches the service exactly once', { skip: h.linuxOnly('reads /proc') }, async (t) => {
  const dir = h.tmpDir(t)
  for (const how of ['group', 'each process']) {
    const log = path.join(dir, `signals-${how}`)
    const r = startRun(t, 'grp', dir, [process.execPath, '-e', SIGNAL_LOGGER(log)], { detached: true })
    await r.reader.next((m) => m.ready)
    if (how === 'group') process.kill(-r.child.pid, 'SIGTERM') // the group this test created (detached)
    else {
      // One by one, as systemd does, each after the last one's signal was handled (two
      // SIGTERMs pending at once would merge into one). Only processes this test started.
      for (const p of tree(r.child.pid).reverse()) {
        const before = lines(log).length
        process.kill(p, 'SIGTERM')
        await h.waitFor(() => lines(log).length > before, 'the signal to be logged', 250).catch(() => {})
      }
    }
    const exit = await h.waitExit({ exited: r.reader.exited, pid: r.child.pid })
    assert.deepEqual(lines(log), ['SIGTERM'], how)
    assert.deepEqual(exit, { code: null, signal: 'SIGTERM' }, how)
  }
})

test('run: the command gets the lock as fd 3 (PID_GUARD_FD=3) and no other fd of pid-guard\'s', { skip: skip || (!havePython && 'needs python3') }, async (t) => {
  const dir = h.tmpDir(t)
  const py = `import os, fcntl, json
fd = int(os.environ["PID_GUARD_FD"])
st = os.fstat(fd)
other = os.open(os.path.join(${JSON.stringify(dir)}, "py.lock"), os.O_RDONLY)
try:
    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    busy = False
except BlockingIOError:
    busy = True
os.close(other)
fds = sorted(int(f) for f in os.listdir("/dev/fd") if int(f) != other)
print(json.dumps({"fd": fd, "ino": st.st_ino, "busy": busy, "name": os.environ.get("PID_GUARD_NAME"), "fds": fds}))`
  const r = await h.cli(t, ['run', 'py', '--dir', dir, '--', 'python3', '-c', py])
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.equal(out.fd, 3)
  assert.equal(out.name, 'py')
  assert.equal(out.ino, fs.statSync(path.join(dir, 'py.lock')).ino, 'fd 3 is the lock file')
  assert.equal(out.busy, true, 'the lock is held (through fd 3) while the command runs')
  // Python's listing opens one fd of its own for the directory it reads.
  assert.deepEqual(out.fds.filter((f) => f <= 3), [0, 1, 2, 3])
  assert.ok(out.fds.length <= 5, `only stdio, the lock and the listing's own fd: ${out.fds}`)
})

test('run: a node service that acquires its own guard adopts it (sync, async, waiting, taking over), no ELOCKED naming itself', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const ways = [
    ['acquire', ''],
    ['acquireAsync', ''],
    ['acquireAsync', ", onConflict: 'wait', timeoutMs: 2000"],
    ['acquire', ", onConflict: 'wait', timeoutMs: 2000"],
    ['acquireAsync', ", onConflict: 'takeover', graceMs: 500"],
  ]
  for (const [fn, more] of ways) {
    const how = `${fn}(${more})`
    const svc = `const pg = require(${JSON.stringify(ROOT)})
;(async () => {
  const g = await pg.${fn}('svc', { dir: ${JSON.stringify(dir)}, meta: { version: '2' }${more} })
  const st = pg.status('svc', { dir: ${JSON.stringify(dir)} })
  let again
  try { pg.acquire('svc', { dir: ${JSON.stringify(dir)} }); again = 'acquired twice' } catch (e) { again = e.code }
  console.log(JSON.stringify({ pid: g.pid, self: process.pid, env: process.env.PID_GUARD_FD ?? null, meta: g.meta, holders: st.holders.map((x) => [x.pid, x.verified]), again }))
  g.release()
  console.log(JSON.stringify({ released: pg.status('svc', { dir: ${JSON.stringify(dir)} }).state, files: require('fs').readdirSync(${JSON.stringify(dir)}).sort() }))
})().catch((e) => { console.log(JSON.stringify({ error: e.code, message: e.message })) })`
    const r = await h.cli(t, ['run', 'svc', '--dir', dir, '--port', '8080', '--', process.execPath, '-e', svc])
    assert.equal(r.code, 0, r.stderr)
    const [a, b] = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
    assert.equal(a.error, undefined, `${how}: ${a.message}`)
    assert.equal(a.pid, a.self, how)
    assert.equal(a.env, null, 'PID_GUARD_FD is removed once adopted (the service\'s children do not try)')
    assert.deepEqual({ port: a.meta.port, version: a.meta.version }, { port: 8080, version: '2' }, 'run\'s meta, with the service\'s own over it')
    assert.deepEqual(a.holders, [[a.self, true]])
    assert.equal(a.again, 'ELOCKED', 'adopted once only')
    assert.deepEqual(b, { released: 'free', files: ['svc.lock'] }, 'the adopted guard releases as any guard does')
  }
})

test('run --mode shared: the service adopts a shared guard; asking for another mode says which', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const svc = `const pg = require(${JSON.stringify(ROOT)})
let wrong
try { pg.acquire('sh', { dir: ${JSON.stringify(dir)} }) } catch (e) { wrong = e.code + ' ' + e.message }
const g = pg.acquire('sh', { dir: ${JSON.stringify(dir)}, mode: 'shared' })
const holders = pg.status('sh', { dir: ${JSON.stringify(dir)} }).holders.length
g.release()
// The adopted guard was the only hold on the lock: released, the guard is free.
console.log(JSON.stringify({ wrong, pid: g.pid, self: process.pid, mode: g.mode, holders, after: pg.status('sh', { dir: ${JSON.stringify(dir)} }).state }))`
  const r = await h.cli(t, ['run', 'sh', '--dir', dir, '--mode', 'shared', '--', process.execPath, '-e', svc])
  assert.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.match(out.wrong, /^ELOCKED .*shared mode/)
  assert.deepEqual([out.pid, out.mode, out.holders, out.after], [out.self, 'shared', 1, 'free'])
})

test('a forged PID_GUARD_FD never adopts: a stray fd of the lock file, a child of the service, another guard\'s name', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'f', dir })
  const probe = `const pg = require(${JSON.stringify(ROOT)})
try { const g = pg.acquire(process.argv[1], { dir: ${JSON.stringify(dir)} }); console.log(JSON.stringify({ adopted: g.pid })); g.release() } catch (e) { console.log(JSON.stringify({ code: e.code, pid: e.holder?.pid })) }`
  // An fd of the held lock file that holds nothing, announced as the guard.
  const fd = fs.openSync(path.join(dir, 'f.lock'), 'r')
  t.after(() => fs.closeSync(fd))
  const child = spawn(process.execPath, ['-e', probe, 'f'], { stdio: ['ignore', 'pipe', 'inherit', fd], env: { ...process.env, PID_GUARD_FD: '3', PID_GUARD_NAME: 'f' } })
  const out = await h.lineReader(h.track(t, child), 'forged').next(() => true)
  assert.deepEqual(out, { code: 'ELOCKED', pid: holder.pid })
  // A child of the service inherits fd 3 and the variables, and the record names its parent
  // (sh, which shares the lock's open file description): adopted, the guard then names the
  // child (stop 16, attack 45). An unrelated process with a copy is not
  // (attack-run-exec.test.js).
  const viaChild = await h.cli(t, ['run', 'c', '--dir', dir, '--', 'sh', '-c', `"${process.execPath}" -e '${probe.replace(/'/g, "'\\''")}' c; echo $$`])
  const [res, shPid] = viaChild.stdout.trim().split('\n')
  const adopted = JSON.parse(res).adopted
  assert.ok(adopted > 0 && adopted !== Number(shPid), viaChild.stdout)
  // Under `run c`, acquiring another guard is an ordinary acquire.
  const other = await h.cli(t, ['run', 'c', '--dir', dir, '--', process.execPath, '-e', probe, 'other'])
  assert.ok(JSON.parse(other.stdout).adopted > 0, other.stdout)
})

test('run: the lock lives exactly as long as the command; kill -9 of it frees the guard and leaves nothing running', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const r = startRun(t, 'k', dir, ['sleep', '60'])
  await h.waitFor(() => status('k', { dir }).holders[0]?.record?.exe?.endsWith('sleep'), 'the record to name sleep')
  const st = status('k', { dir })
  assert.deepEqual(st.holders.map((x) => [x.pid, x.verified]), [[r.child.pid, true]])
  r.child.kill('SIGKILL')
  assert.deepEqual(await r.reader.exited, { code: null, signal: 'SIGKILL' })
  assert.notEqual(status('k', { dir }).state, 'held')
  const g = acquire('k', { dir })
  t.after(() => g.release())
  assert.equal(g.recovered[0]?.pid, r.child.pid, 'the next acquire cleaned what the killed command left')
})

test('run: a command that cannot be started is named, exit 127 (not found) or 126 (not executable), and holds nothing', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const missing = await h.cli(t, ['run', 'm', '--dir', dir, '--', 'pid-guard-no-such-command', '-x'])
  assert.equal(missing.code, 127)
  assert.match(missing.stderr, /cannot start "pid-guard-no-such-command"/)
  const plain = path.join(dir, 'not-executable')
  fs.writeFileSync(plain, 'echo hi\n', { mode: 0o644 })
  const denied = await h.cli(t, ['run', 'm', '--dir', dir, '--', plain])
  assert.equal(denied.code, 126)
  assert.match(denied.stderr, new RegExp(`cannot start "${plain}"`))
  assert.equal(status('m', { dir }).state, 'free')
  // Found and executable, but its interpreter is missing: found before the guard is touched
  // (stop 16, attack 36), so nothing is created at all.
  const broken = path.join(dir, 'broken')
  fs.writeFileSync(broken, '#!/pid-guard/no/such/interpreter\n', { mode: 0o755 })
  const failed = await h.cli(t, ['run', 'm', '--dir', dir, '--', broken])
  assert.equal(failed.code, 127)
  assert.match(failed.stderr, new RegExp(`cannot start "${broken}"`))
  assert.equal(status('m', { dir }).state, 'free')
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('m.')), [])
})

test('adoption only of a guard passed down: a guard this process acquired itself is never adopted a second time', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  // The service drops the inherited lock (closing fd 3), acquires normally, then points
  // PID_GUARD_FD at that guard's own fd (its record names this process and that fd): a second
  // acquire must be ELOCKED, never a second owner of the fd.
  const svc = `const pg = require(${JSON.stringify(ROOT)})
require('fs').closeSync(3)
const g = pg.acquire('twice', { dir: ${JSON.stringify(dir)} })
const fd = pg.status('twice', { dir: ${JSON.stringify(dir)} }).holders[0].record.lockFd
process.env.PID_GUARD_FD = String(fd)
let again
try { pg.acquire('twice', { dir: ${JSON.stringify(dir)} }); again = 'adopted' } catch (e) { again = e.code }
console.log(JSON.stringify({ fd: fd > 3, again }))
g.release()`
  const r = await h.cli(t, ['run', 'twice', '--dir', dir, '--', process.execPath, '-e', svc])
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(JSON.parse(r.stdout), { fd: true, again: 'ELOCKED' })
})

test('nested runs: `run a -- pid-guard run b -- cmd` keeps both locks for cmd; `run x -- pid-guard run x -- cmd` adopts', { skip: h.linuxOnly('reads /proc') }, async (t) => {
  const dir = h.tmpDir(t)
  const show = 'ls -l /proc/$$/fd | grep -o "[ab]\\.lock" | sort | tr "\\n" " "'
  const both = await h.cli(t, ['run', 'a', '--dir', dir, '--', h.BIN, 'run', 'b', '--dir', dir, '--', 'sh', '-c', show])
  assert.equal(both.code, 0, both.stderr)
  assert.equal(both.stdout, 'a.lock b.lock ')
  const same = await h.cli(t, ['run', 'x', '--dir', dir, '--', h.BIN, 'run', 'x', '--dir', dir, '--', 'sh', '-c', 'echo $PID_GUARD_FD'])
  assert.equal(same.code, 0, same.stderr)
  assert.equal(same.stdout, '3\n')
})

test('run started by the Node launcher: the command does not inherit PID_GUARD_LAUNCHER', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const child = h.track(t, spawn(h.BIN, ['run', 'launched', '--dir', dir, '--', 'sh', '-c', 'echo "[${PID_GUARD_LAUNCHER-unset}]"'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PID_GUARD_LOG: '', PID_GUARD_LAUNCHER: 'node' },
  }))
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
  const exit = await h.withDeadline(new Promise((resolve) => child.on('close', (code) => resolve(code))), h.DEADLINE, 'run launched')
  assert.equal(exit, 0)
  assert.equal(out, '[unset]\n')
})
