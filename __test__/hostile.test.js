'use strict'
// Hostile and bad input: planted symlinks, unsafe directories, invalid names and options,
// garbage pid files, a read-only filesystem. Each is refused with a stable code and nothing
// outside the guard's own files is touched.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { acquire, status, list, PidGuardError } = require('..')
const h = require('./helpers')

function throwsCode(fn, code, extra) {
  let err
  assert.throws(fn, (e) => {
    err = e
    return e instanceof PidGuardError && e.code === code
  }, `expected ${code}`)
  assert.match(err.message, /^pid-guard: /)
  extra?.(err)
  return err
}

// --- symlinks -------------------------------------------------------------------------------

for (const file of ['svc.lock', 'svc.pid']) {
  test(`a symlink planted at ${file} is refused (ESYMLINK) and its target is untouched`, { skip: h.wineGap('symlink') }, (t) => {
    const dir = h.tmpDir(t)
    const outside = h.tmpDir(t)
    const target = path.join(outside, 'precious')
    fs.writeFileSync(target, 'precious data\n', { mode: 0o644 })
    const before = h.snapshot(target)
    const link = path.join(dir, file)
    fs.symlinkSync(target, link)

    throwsCode(() => acquire('svc', { dir }), 'ESYMLINK', (e) => {
      assert.ok(e.message.includes(link), e.message)
      assert.equal(e.path, link)
    })
    assert.deepEqual(h.snapshot(target), before, 'the target is byte-for-byte unchanged')
    assert.ok(fs.lstatSync(link).isSymbolicLink(), 'the planted link is left for the user to inspect')
    assert.deepEqual(fs.readdirSync(outside), ['precious'])
    // Status reads without following either.
    try {
      const st = status('svc', { dir })
      assert.notEqual(st.state, 'held')
    } catch (e) {
      assert.equal(e.code, 'ESYMLINK')
    }
    assert.deepEqual(h.snapshot(target), before)
  })
}

for (const file of ['svc.lock', 'svc.pid']) {
  test(`a dangling symlink at ${file} is refused and its target is not created`, { skip: h.wineGap('symlink') }, (t) => {
    const dir = h.tmpDir(t)
    const outside = h.tmpDir(t)
    const target = path.join(outside, 'would-be-created')
    fs.symlinkSync(target, path.join(dir, file))
    throwsCode(() => acquire('svc', { dir }), 'ESYMLINK')
    assert.equal(fs.existsSync(target), false)
    assert.deepEqual(fs.readdirSync(outside), [])
  })
}

test('a lock file hard-linked to a file the test owns is not written through', (t) => {
  // A hard link cannot be refused by O_NOFOLLOW; the guard keeps its record in the lock file,
  // so it refuses a lock file with more than one link: the linked file keeps its bytes.
  const dir = h.tmpDir(t)
  const target = path.join(dir, 'precious')
  fs.writeFileSync(target, 'precious data\n')
  const before = h.snapshot(target)
  fs.linkSync(target, path.join(dir, 'svc.lock'))
  try {
    acquire('svc', { dir }).release()
  } catch (e) {
    assert.ok(e instanceof PidGuardError, String(e))
  }
  assert.equal(fs.readFileSync(target, 'utf8'), 'precious data\n')
  assert.equal(h.snapshot(target).bytes, before.bytes)
})

// --- unsafe directories ---------------------------------------------------------------------

test('a world-writable directory without the sticky bit is refused (EUNSAFEDIR); nothing created', { skip: h.posixOnly('file modes') }, (t) => {
  const dir = h.tmpDir(t)
  fs.chmodSync(dir, 0o777)
  throwsCode(() => acquire('svc', { dir }), 'EUNSAFEDIR', (e) => {
    assert.ok(e.message.includes(dir), e.message)
    assert.match(e.message, /777/)
  })
  fs.chmodSync(dir, 0o770)
  throwsCode(() => acquire('svc', { dir }), 'EUNSAFEDIR')
  assert.deepEqual(fs.readdirSync(dir), [])
  // Control: with the sticky bit (like /tmp) it is accepted.
  fs.chmodSync(dir, 0o1777)
  acquire('svc', { dir }).release()
})

test('a directory owned by another user is refused (EUNSAFEDIR); nothing created', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to chown a directory to nobody')
  let nobody
  try {
    nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim())
  } catch {
    return t.skip('no user "nobody" on this machine')
  }
  const dir = h.tmpDir(t)
  fs.chownSync(dir, nobody, nobody)
  throwsCode(() => acquire('svc', { dir }), 'EUNSAFEDIR', (e) => {
    assert.ok(e.message.includes(dir), e.message)
    assert.ok(e.message.includes(String(nobody)), e.message)
  })
  assert.deepEqual(fs.readdirSync(dir), [])
})

test('a path that is a file is refused (ENOTDIR) and left alone', (t) => {
  const parent = h.tmpDir(t)
  const file = path.join(parent, 'not-a-dir')
  fs.writeFileSync(file, 'x')
  const before = h.snapshot(file)
  throwsCode(() => acquire('svc', { dir: file }), 'ENOTDIR', (e) => assert.ok(e.message.includes(file)))
  throwsCode(() => status('svc', { dir: file }), 'ENOTDIR')
  throwsCode(() => list({ dir: file }), 'ENOTDIR')
  throwsCode(() => acquire('svc', { dir: path.join(file, 'sub') }), 'ENOTDIR')
  assert.deepEqual(h.snapshot(file), before)
  assert.deepEqual(fs.readdirSync(parent), ['not-a-dir'])
})

test('a missing directory is created 0700; status and list of a missing one create nothing', (t) => {
  const parent = h.tmpDir(t)
  const dir = path.join(parent, 'a', 'b')
  assert.equal(status('svc', { dir }).state, 'free')
  assert.deepEqual(list({ dir }), [])
  assert.equal(fs.existsSync(path.join(parent, 'a')), false, 'status must not create the directory')
  const g = acquire('svc', { dir })
  g.release()
  if (!h.WIN) assert.equal(fs.statSync(dir).mode & 0o777, 0o700) // Windows has no modes
})

// --- bad names and options ------------------------------------------------------------------

const BAD_NAMES = ['', '.x', '.', '..', 'a/b', '../x', 'a b', 'a\0b', 'ü', 'a'.repeat(129), 'a'.repeat(130), null, undefined, 42, {}, ['x']]

test('every invalid name is refused with EINVALIDNAME and nothing is created', (t) => {
  const dir = h.tmpDir(t)
  for (const name of BAD_NAMES) {
    const label = typeof name === 'string' ? JSON.stringify(name.length > 20 ? `${name.slice(0, 5)}…(${name.length})` : name) : String(name)
    for (const [what, fn] of [
      ['acquire', () => acquire(name, { dir })],
      ['status', () => status(name, { dir })],
    ]) {
      let err
      assert.throws(fn, (e) => ((err = e), true), `${what}(${label}) should throw`)
      assert.ok(err instanceof PidGuardError, `${what}(${label}): ${err}`)
      assert.equal(err.code, 'EINVALIDNAME', `${what}(${label}): ${err.code} ${err.message}`)
      assert.match(err.message, /^pid-guard: /)
    }
  }
  assert.deepEqual(fs.readdirSync(dir), [])
  // Control: the longest valid name and every allowed character.
  acquire('a'.repeat(128), { dir }).release()
  acquire('Az09._-x', { dir }).release()
})

test('bad options are refused with EINVALIDOPTION and nothing is created', (t) => {
  const dir = h.tmpDir(t)
  const circular = {}
  circular.self = circular
  const rows = [
    { dir, mode: 'both' },
    { dir, mode: 1 },
    { dir, mode: 'EXCLUSIVE' },
    { dir, meta: 'port=1' },
    { dir, meta: [1, 2] },
    { dir, meta: 42 },
    { dir, meta: circular },
    { dir, meta: { big: 'x'.repeat(20000) } },
    { dir, cleanup: 'yes' },
    { dir, timeout: 5 },
    { dir, Mode: 'shared' },
    { dir: 5 },
    null,
    'svc',
  ]
  for (const opts of rows) {
    let err
    assert.throws(() => acquire('svc', opts), (e) => ((err = e), true), `acquire with ${String(opts?.mode ?? Object.keys(opts ?? {}))} should throw`)
    assert.ok(err instanceof PidGuardError, String(err))
    assert.equal(err.code, 'EINVALIDOPTION', `${err.code}: ${err.message}`)
  }
  assert.deepEqual(fs.readdirSync(dir), [])
  // update() checks meta the same way and keeps the old one.
  const g = acquire('svc', { dir, meta: { port: 1 } })
  t.after(() => g.release())
  for (const bad of ['x', [1], circular]) {
    assert.throws(() => g.update(bad), (e) => e.code === 'EINVALIDOPTION')
  }
  assert.deepEqual(JSON.parse(fs.readFileSync(g.recordPath, 'utf8')).meta, { port: 1 })
})

// --- bad pid file contents ------------------------------------------------------------------

const BAD_PID_FILES = [
  ['garbage', 'hello\n'],
  ['negative', '-1\n'],
  ['zero', '0\n'],
  ['pid 1', '1\n'],
  ['2^32', '4294967296\n'],
  ['empty', ''],
  ['binary', Buffer.from([0, 1, 0xff, 0xfe, 0x0a])],
  ['1 MB', Buffer.alloc(1 << 20, '9')],
  ['1 MB of garbage', Buffer.alloc(1 << 20, 0xab)],
  ['two pids', '123\n456\n'],
]

test("a pid file naming the acquiring process itself is never taken for a holder", (t) => {
  // For the acquirer its own pid is invalid (it just won the lock); for a read-only status in a
  // process that is not the holder, the pid may be reported but is never verified or held.
  const dir = h.tmpDir(t)
  const pidPath = path.join(dir, 'svc.pid')
  fs.writeFileSync(pidPath, `${process.pid}\n`)
  const st = status('svc', { dir })
  assert.equal(st.state, 'stale', JSON.stringify(st))
  assert.ok(st.holders.every((x) => !x.verified))
  const g = acquire('svc', { dir })
  t.after(() => g.release())
  const r = g.recovered.find((x) => x.removed.includes(pidPath))
  assert.ok(r, JSON.stringify(g.recovered))
  assert.match(r.reason, /itself/)
  assert.equal(h.isRunning(process.pid), true)
})

for (const [label, content] of BAD_PID_FILES) {
  test(`a pid file with ${label} content is reported invalid and recovered, never believed`, (t) => {
    const dir = h.tmpDir(t)
    const pidPath = path.join(dir, 'svc.pid')
    fs.writeFileSync(pidPath, typeof content === 'function' ? content() : content, { mode: 0o600 })
    const before = h.snapshot(pidPath)

    const st = status('svc', { dir })
    assert.equal(st.pidFile.exists, true)
    assert.equal(st.pidFile.valid, false, JSON.stringify(st.pidFile))
    assert.equal(typeof st.pidFile.problem, 'string')
    assert.ok(st.pidFile.problem.length > 0)
    assert.notEqual(st.state, 'held', 'nobody holds the lock')
    assert.deepEqual(h.snapshot(pidPath), before, 'status leaves it alone')

    const g = acquire('svc', { dir })
    t.after(() => g.release())
    assert.ok(g.recovered.length >= 1, JSON.stringify(g.recovered))
    assert.ok(g.recovered.every((r) => typeof r.reason === 'string' && r.reason.length > 0))
    assert.ok(g.recovered.some((r) => r.removed.includes(pidPath)), JSON.stringify(g.recovered))
    assert.equal(fs.readFileSync(pidPath, 'utf8'), `${process.pid}\n`)
    // Never signalled: had -1 or 0 reached kill(), this process would be gone by now.
    assert.equal(h.isRunning(process.pid), true)
  })
}

test('a holder sees its own pid in a reused pid file of a dead guard as stale, not as itself', async (t) => {
  // A child writes the parent's pid into the pid file: "our own pid" from the child's view is
  // tested above; here the pid names a live unrelated process (the test runner) with no lock.
  const dir = h.tmpDir(t)
  fs.writeFileSync(path.join(dir, 'svc.pid'), `${process.pid}\n`)
  const holder = await h.hold(t, { name: 'svc', dir })
  assert.ok(holder.msg.guard.recovered.length >= 1, JSON.stringify(holder.msg.guard.recovered))
  assert.equal(h.isRunning(process.pid), true)
  const st = status('svc', { dir })
  assert.equal(st.state, 'held')
  assert.equal(st.holders[0].pid, holder.pid)
})

// --- read-only filesystem -------------------------------------------------------------------

test('a read-only filesystem gives EROFS naming the path; status still reads it', async (t) => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return t.skip('needs root on Linux to mount a tmpfs')
  const mnt = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'pg-test-ro-'))
  let mounted = false
  t.after(() => {
    if (mounted) execFileSync('umount', [mnt], { stdio: 'pipe' })
    fs.rmdirSync(mnt)
  })
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'pg-test-ro', mnt], { stdio: 'pipe' })
    mounted = true
  } catch (e) {
    return t.skip(`cannot mount a tmpfs here (${String(e.stderr || e.message).trim()}); read-only case not testable`)
  }
  // A stale guard left behind, and a directory the guard would use, before going read-only.
  const stale = path.join(mnt, 'stale')
  fs.mkdirSync(stale, { mode: 0o700 })
  fs.writeFileSync(path.join(stale, 'svc.pid'), '999999\n')
  const empty = path.join(mnt, 'empty')
  fs.mkdirSync(empty, { mode: 0o700 })
  execFileSync('mount', ['-o', 'remount,ro', mnt], { stdio: 'pipe' })

  for (const dir of [empty, stale]) {
    const err = throwsCode(() => acquire('svc', { dir }), 'EROFS')
    assert.ok(err.message.includes(dir), err.message)
    assert.match(err.message, /read-only/)
  }
  throwsCode(() => acquire('svc', { dir: path.join(mnt, 'missing') }), 'EROFS')
  const st = status('svc', { dir: stale })
  assert.equal(st.state, 'stale')
  assert.deepEqual(list({ dir: empty }), [])
  assert.equal(fs.readFileSync(path.join(stale, 'svc.pid'), 'utf8'), '999999\n')
})
