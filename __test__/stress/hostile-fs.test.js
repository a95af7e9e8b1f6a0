'use strict'
// Hostile filesystem: planted symlinks, a pid file replaced under a live holder, unsafe
// directories, a read-only and a full filesystem (small tmpfs mounts; skipped with the reason
// when mount is not allowed), files with mode 0666, and pid files holding garbage, -1, 0, 1,
// 2^32, 1 MB or our own pid. Each gives its documented result; nothing outside the guard's own
// files changes, and no process but the test's own holder is ever signalled.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const h = require('../helpers')
const { acquire, status, stop, PidGuardError } = require('../..')
const { tree } = require('./common')

function code(fn) {
  try {
    fn()
  } catch (e) {
    assert.ok(e instanceof PidGuardError, String(e))
    return e
  }
  assert.fail('expected an error')
}

/** Mounts a tmpfs for the test; returns its path or null (and the reason) when not allowed. */
function tmpfs(t, opts) {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return { why: 'needs root on Linux to mount a tmpfs' }
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-stress-mnt-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'pg-stress', mnt], { stdio: 'pipe' })
  } catch (e) {
    fs.rmdirSync(mnt)
    return { why: `cannot mount a tmpfs here: ${String(e.stderr || e.message).trim()}` }
  }
  t.after(() => {
    execFileSync('umount', [mnt], { stdio: 'pipe' })
    fs.rmdirSync(mnt)
  })
  return { mnt }
}

// --- symlinks -------------------------------------------------------------------------------

for (const file of ['svc.lock', 'svc.pid']) {
  test(`symlink at ${file} -> a file the test owns: acquire, takeover, status and stop leave the target unchanged`, { skip: h.wineGap('symlink') }, async (t) => {
    const dir = h.tmpDir(t, 'pg-stress-host-')
    const target = path.join(h.tmpDir(t, 'pg-stress-own-'), 'precious')
    fs.writeFileSync(target, `${process.pid}\n`) // even a plausible pid inside
    const before = h.snapshot(target)
    fs.symlinkSync(target, path.join(dir, file))
    assert.equal(code(() => acquire('svc', { dir })).code, 'ESYMLINK')
    assert.equal(code(() => acquire('svc', { dir, onConflict: 'takeover', graceMs: 100 })).code, 'ESYMLINK')
    try {
      assert.notEqual(status('svc', { dir }).state, 'held')
    } catch (e) {
      assert.equal(e.code, 'ESYMLINK')
    }
    await assert.rejects(stop('svc', { dir, timeoutMs: 200, force: true }), (e) => e instanceof PidGuardError)
    assert.deepEqual(h.snapshot(target), before)
    assert.equal(h.isRunning(process.pid), true)
  })
}

test('symlink planted at the pid path while held: release removes the link, never the target', { skip: h.wineGap('symlink') }, async (t) => {
  const dir = h.tmpDir(t, 'pg-stress-host-')
  const target = path.join(h.tmpDir(t, 'pg-stress-own-'), 'precious')
  fs.writeFileSync(target, 'precious\n')
  const before = h.snapshot(target)
  const holder = await h.hold(t, { name: 'svc', dir })
  fs.rmSync(path.join(dir, 'svc.pid'))
  fs.symlinkSync(target, path.join(dir, 'svc.pid'))
  // Documented: status refuses to read through the link (ESYMLINK) or reports the real holder.
  try {
    const st = status('svc', { dir })
    assert.equal(st.state, 'held')
    assert.equal(st.holders[0].pid, holder.pid, 'the kernel still names the real holder')
  } catch (e) {
    assert.equal(e.code, 'ESYMLINK', String(e))
  }
  holder.send('release')
  await holder.next((m) => m.released)
  assert.deepEqual(h.snapshot(target), before)
})

// --- pid file replaced under a live holder --------------------------------------------------

test('pid file replaced with another live process while held: status finds the real holder, nobody else is signalled', { skip: h.posixOnly('a kernel lock table naming the real holder (Windows has none: the holder is unknown, and nothing is signalled)') }, async (t) => {
  const dir = h.tmpDir(t, 'pg-stress-host-')
  const holder = await h.hold(t, { name: 'svc', dir })
  const sleep = h.spawnSleep(t)
  let sleepExited = false
  sleep.exited.then(() => (sleepExited = true))
  const pidPath = path.join(dir, 'svc.pid')
  fs.writeFileSync(pidPath, `${sleep.pid}\n`)

  const st = status('svc', { dir })
  assert.equal(st.state, 'held')
  assert.equal(st.holders.length, 1)
  assert.equal(st.holders[0].pid, holder.pid, `status names ${st.holders[0].pid}, not the real holder ${holder.pid}`)
  const e = code(() => acquire('svc', { dir }))
  assert.equal(e.code, 'ELOCKED')
  assert.equal(e.holder.pid, holder.pid, e.message)
  assert.ok(!e.message.includes(`kill ${sleep.pid}`), e.message)

  // Found by this suite: an exclusive release removes the pid file whenever the lock file is
  // still its own, without checking that the pid file still names it (guard.rs release()).
  await t.test('release does not delete a pid file that names another process', async () => {
    holder.send('release')
    await holder.next((m) => m.released)
    assert.equal(fs.existsSync(pidPath) && fs.readFileSync(pidPath, 'utf8'), `${sleep.pid}\n`)
  })
  assert.equal(sleepExited, false)
  assert.equal(h.isRunning(sleep.pid), true)
})

test('pid file replaced while held: takeover and stop signal the real holder only', { skip: h.posixOnly('a kernel lock table naming the real holder (Windows has none: the holder is unknown, and nothing is signalled)') }, async (t) => {
  const dir = h.tmpDir(t, 'pg-stress-host-')
  for (const how of ['takeover', 'stop']) {
    const holder = await h.hold(t, { name: 'svc', dir }, { label: how })
    const sleep = h.spawnSleep(t)
    let sleepExited = false
    sleep.exited.then(() => (sleepExited = true))
    fs.writeFileSync(path.join(dir, 'svc.pid'), `${sleep.pid}\n`)
    let outcome
    if (how === 'takeover') {
      try {
        const g = acquire('svc', { dir, onConflict: 'takeover', graceMs: 3000 })
        outcome = `took over: ${JSON.stringify(g.recovered.map((r) => [r.pid, r.signals]))}`
        assert.ok(g.recovered.every((r) => r.pid !== sleep.pid || !r.signals?.length), outcome)
        g.release()
      } catch (e) {
        outcome = `${e.code}: ${e.message}`
        assert.equal(e.code, 'ENOTVERIFIED', outcome)
      }
    } else {
      try {
        const r = await stop('svc', { dir, timeoutMs: 3000 })
        outcome = `stopped ${JSON.stringify(r.stopped.map((s) => s.pid))}`
        assert.ok(r.stopped.every((s) => s.pid === holder.pid), outcome)
      } catch (e) {
        outcome = `${e.code}: ${e.message}`
        assert.equal(e.code, 'ENOTVERIFIED', outcome)
      }
    }
    t.diagnostic(`${how} with a replaced pid file: ${outcome}`)
    assert.equal(sleepExited, false, `${how} signalled the unrelated process`)
    assert.equal(h.isRunning(sleep.pid), true)
    holder.child.kill('SIGKILL')
    await h.waitExit(holder)
  }
})

// --- unsafe directories ---------------------------------------------------------------------

test('directory owned by nobody: EUNSAFEDIR, nothing created', (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to chown')
  let nobody
  try {
    nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim())
  } catch {
    return t.skip('no user nobody')
  }
  const dir = h.tmpDir(t, 'pg-stress-host-')
  fs.chownSync(dir, nobody, nobody)
  const e = code(() => acquire('svc', { dir }))
  assert.equal(e.code, 'EUNSAFEDIR')
  assert.ok(e.message.includes(dir))
  assert.deepEqual(fs.readdirSync(dir), [])
})

test('world-writable directory without sticky bit: EUNSAFEDIR, nothing created', { skip: h.posixOnly('file modes') }, (t) => {
  const dir = h.tmpDir(t, 'pg-stress-host-')
  fs.chmodSync(dir, 0o777)
  const e = code(() => acquire('svc', { dir }))
  assert.equal(e.code, 'EUNSAFEDIR')
  assert.deepEqual(fs.readdirSync(dir), [])
})

// --- read-only and full filesystems ---------------------------------------------------------

test('read-only filesystem: EROFS naming the path, stale files untouched', (t) => {
  const { mnt, why } = tmpfs(t, 'size=1m,mode=0700')
  if (!mnt) return t.skip(why)
  const dir = path.join(mnt, 'g')
  fs.mkdirSync(dir, { mode: 0o700 })
  fs.writeFileSync(path.join(dir, 'svc.pid'), '999999\n')
  execFileSync('mount', ['-o', 'remount,ro', mnt], { stdio: 'pipe' })
  const e = code(() => acquire('svc', { dir }))
  assert.equal(e.code, 'EROFS')
  assert.ok(e.message.includes(dir), e.message)
  assert.equal(status('svc', { dir }).state, 'stale')
  assert.equal(fs.readFileSync(path.join(dir, 'svc.pid'), 'utf8'), '999999\n')
})

function fill(dirOnFs) {
  const filler = path.join(dirOnFs, 'filler')
  const fd = fs.openSync(filler, 'w')
  let pages = 0
  try {
    for (;;) {
      fs.writeSync(fd, Buffer.alloc(4096, 1))
      pages++
    }
  } catch (e) {
    assert.equal(e.code, 'ENOSPC')
  }
  return { fd, pages, free: () => fs.ftruncateSync(fd, 0), close: () => fs.closeSync(fd) }
}

test('full disk: acquire fails with ENOSPC naming the path and leaves nothing a later acquire misreads', (t) => {
  const { mnt, why } = tmpfs(t, 'size=16k,mode=0700')
  if (!mnt) return t.skip(why)
  const dir = path.join(mnt, 'g')
  fs.mkdirSync(dir, { mode: 0o700 })
  const disk = fill(mnt)
  try {
    fullDiskAcquire(t, dir, disk)
  } finally {
    disk.close()
  }
})

function fullDiskAcquire(t, dir, disk) {
  const e = code(() => acquire('svc', { dir }))
  assert.equal(e.code, 'ENOSPC', e.message)
  assert.ok(e.message.includes(path.join(dir, 'svc.')), e.message)
  t.diagnostic(`full disk: ${e.message}; left: ${tree(dir).map((f) => `${f} (${fs.statSync(path.join(dir, f)).size} bytes)`).join(', ')}`)
  assert.equal(fs.existsSync(path.join(dir, 'svc.pid')), false, 'no pid file is left')
  assert.equal(status('svc', { dir }).state, 'free')
  disk.free()
  const g = acquire('svc', { dir })
  assert.deepEqual(g.recovered, [])
  g.release()
}

test('full disk during update(): ENOSPC, and the holder stays readable with its old or new meta', (t) => {
  const { mnt, why } = tmpfs(t, 'size=16k,mode=0700')
  if (!mnt) return t.skip(why)
  const dir = path.join(mnt, 'g')
  fs.mkdirSync(dir, { mode: 0o700 })
  const g = acquire('svc', { dir, meta: { port: 1, v: 'old' } })
  const disk = fill(mnt)
  try {
    fullDiskUpdate(t, dir, g)
  } finally {
    g.release()
    disk.close()
  }
})

// Found by this suite: the exclusive record is overwritten in place with one pwrite; on ENOSPC
// the first page holds the new record's start and the rest the old one, so status reads no
// record (meta null) while the holder is alive, until its next successful update.
function fullDiskUpdate(t, dir, g) {
  const big = { port: 1, v: 'new', pad: 'x'.repeat(12000) }
  const e = code(() => g.update(big))
  assert.equal(e.code, 'ENOSPC', e.message)
  assert.ok(e.message.includes(g.lockPath), e.message)
  const st = status('svc', { dir })
  assert.equal(st.state, 'held')
  assert.equal(st.holders[0].pid, process.pid)
  const meta = st.holders[0].meta
  t.diagnostic(`update on a full disk: ${e.message}; status then reads meta ${JSON.stringify(meta)?.slice(0, 80)}`)
  assert.ok(meta && (meta.v === 'old' || meta.v === 'new'), `the record is torn: status reads meta ${JSON.stringify(meta)?.slice(0, 200)}`)
}

// --- mode 0666 ------------------------------------------------------------------------------

test('files left with mode 0666: a lock file others can write is refused (EUNSAFEFILE); once removed, acquire recovers the pid file', { skip: h.posixOnly('file modes') }, (t) => {
  const dir = h.tmpDir(t, 'pg-stress-host-')
  const lock = path.join(dir, 'svc.lock')
  const pid = path.join(dir, 'svc.pid')
  fs.writeFileSync(lock, '', { mode: 0o666 })
  fs.writeFileSync(pid, '999999\n', { mode: 0o666 })
  fs.chmodSync(lock, 0o666)
  fs.chmodSync(pid, 0o666)
  assert.equal(status('svc', { dir }).state, 'stale')
  // The holder's record lives in the lock file: anyone able to write it could forge the holder.
  assert.throws(() => acquire('svc', { dir }), (e) => e.code === 'EUNSAFEFILE' && e.message.includes(lock) && /writable by other users/.test(e.message))
  assert.equal(fs.readFileSync(pid, 'utf8'), '999999\n', 'a refused acquire touches nothing')
  fs.unlinkSync(lock)
  const g = acquire('svc', { dir })
  const modes = { lock: (fs.statSync(lock).mode & 0o777).toString(8), pid: (fs.statSync(pid).mode & 0o777).toString(8) }
  t.diagnostic(`0666 files: acquire ok, recovered ${JSON.stringify(g.recovered.map((r) => r.reason))}; modes while held: lock ${modes.lock}, pid ${modes.pid}`)
  assert.equal(g.recovered.length, 1)
  assert.equal(fs.readFileSync(pid, 'utf8'), `${process.pid}\n`)
  g.release()
})

// --- pid file contents ----------------------------------------------------------------------

const CONTENTS = [
  ['1 MB', () => Buffer.alloc(1 << 20, '7')],
  ['binary garbage', () => Buffer.from([0, 0xff, 0x13, 0x37, 0x0a, 0xfe])],
  ['-1', () => '-1\n'],
  ['0', () => '0\n'],
  ['1', () => '1\n'],
  ['4294967296', () => '4294967296\n'],
  ['our own pid', () => `${process.pid}\n`],
]

for (const [label, content] of CONTENTS) {
  test(`pid file with ${label}: invalid or stale, never held; stop refuses, takeover signals nothing; nothing else changes`, async (t) => {
    const dir = h.tmpDir(t, 'pg-stress-host-')
    const other = path.join(dir, 'other.txt')
    fs.writeFileSync(other, 'not ours\n')
    const otherBefore = h.snapshot(other)
    const pidPath = path.join(dir, 'svc.pid')
    fs.writeFileSync(pidPath, content())
    const before = h.snapshot(pidPath)
    const st = status('svc', { dir })
    assert.equal(st.state, 'stale', JSON.stringify(st))
    assert.ok(st.holders.every((x) => !x.verified))
    assert.deepEqual(h.snapshot(pidPath), before, 'status changes nothing')
    await assert.rejects(stop('svc', { dir, timeoutMs: 200, force: true }), (e) => ['ENOTFOUND', 'ENOTVERIFIED'].includes(e.code))
    assert.deepEqual(h.snapshot(pidPath), before, 'stop changes nothing')
    const g = acquire('svc', { dir, onConflict: 'takeover', graceMs: 100 })
    t.after(() => g.release())
    assert.ok(g.recovered.every((r) => !r.signals?.length), JSON.stringify(g.recovered))
    assert.ok(g.recovered.some((r) => r.removed.includes(pidPath)))
    t.diagnostic(`${label}: status '${st.state}' (${st.pidFile.problem ?? st.staleReason}); recovered: ${g.recovered[0].reason}`)
    assert.deepEqual(h.snapshot(other), otherBefore)
    assert.deepEqual(fs.readdirSync(dir).sort(), ['other.txt', 'svc.lock', 'svc.pid'])
    assert.equal(h.isRunning(process.pid), true)
  })
}
