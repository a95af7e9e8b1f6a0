'use strict'
// Issue 10, item 1: links planted at guard paths. In a sticky world-writable directory (accepted
// as safe, as /run/lock is) another user (`nobody`) plants symbolic links, and hard links to a
// file of root's appear at guard paths. Whatever root then runs (exclusive, shared and takeover
// acquire, release, status, list, health, `pid-guard check`, `list`, `status`, `run`, `prune`), nothing behind a link
// is read as ours, written, truncated or deleted: each operation either ignores the link or
// throws a code whose message names the path. Every operation runs in a child with a deadline.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const h = require('./helpers')

const ROOT = JSON.stringify(path.join(__dirname, '..'))
const isRoot = process.getuid?.() === 0
const skip = !isRoot || process.platform !== 'linux' ? 'needs root and a second user (nobody) on Linux' : false

/** A sticky 1777 directory (as /run/lock or /tmp), removed after the test. */
function stickyDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-sticky-'))
  fs.chmodSync(dir, 0o1777)
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Root's files someone wants destroyed: a directory of pid-guard-looking names, and one file. */
function victim(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-victim-'))
  fs.chmodSync(dir, 0o755)
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const files = { '123.pid': '123\n', '456.json': '{"precious":true}\n', 'x.tmp789': 'precious\n', '2.json.tmp999999': 'x' }
  for (const [f, c] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), c)
  const file = path.join(dir, 'secret')
  fs.writeFileSync(file, 'root:precious:0:0\n')
  return { dir, file }
}

/** Names, contents, inode and link count of every file in `dir` (and of `file`). */
function snapshot(dir) {
  const out = {}
  for (const f of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, f)
    const st = fs.lstatSync(p)
    out[f] = { ino: st.ino, nlink: st.nlink, size: st.size, mtimeMs: st.mtimeMs, content: st.isFile() ? fs.readFileSync(p, 'utf8') : null }
  }
  return out
}

function asNobody(...cmd) {
  execFileSync('runuser', ['-u', 'nobody', '--', ...cmd])
}

/** Runs every operation on guard `name` in `dir` in a child; each result or error code + message. */
async function everything(t, dir, name) {
  const code = `
    const pg = require(${ROOT})
    const dir = ${JSON.stringify(dir)}
    const name = ${JSON.stringify(name)}
    const out = {}
    const tryIt = async (k, fn) => {
      try { out[k] = { ok: (await fn()) ?? null } } catch (e) { out[k] = { code: e.code, message: e.message, path: e.path } }
    }
    ;(async () => {
      await tryIt('exclusive', () => { const g = pg.acquire(name, { dir }); const r = g.recovered; g.release(); return r })
      await tryIt('shared', () => { const g = pg.acquire(name, { dir, mode: 'shared' }); g.release(); return 'ok' })
      await tryIt('sharedTwice', () => {
        const a = pg.acquire(name, { dir, mode: 'shared' }); const b = pg.acquire(name, { dir, mode: 'shared' })
        b.release(); a.release(); return 'ok'
      })
      await tryIt('takeover', () => { const g = pg.acquire(name, { dir, onConflict: 'takeover' }); g.release(); return 'ok' })
      await tryIt('status', () => pg.status(name, { dir }).state)
      await tryIt('statusProblem', () => pg.status(name, { dir }).problem)
      await tryIt('list', () => pg.list({ dir }).map((s) => s.name + ':' + s.state))
      await tryIt('health', () => pg.healthSync(name, { dir }).alive)
      await tryIt('exclusiveAgain', () => { const g = pg.acquire(name, { dir }); g.release(); return 'ok' })
      process.stdout.write(JSON.stringify(out))
    })()
  `
  const r = await h.node(t, code, { timeout: 20000 })
  assert.equal(r.code, 0, `child failed: ${r.stderr}`)
  const out = JSON.parse(r.stdout)
  const cli = {}
  for (const args of [['check', name], ['list', '--json'], ['status', name, '--json'], ['run', name, '--', process.execPath, '-e', '0'], ['prune']]) {
    const c = await h.cli(t, args[0] === 'run' ? ['run', name, '--dir', dir, ...args.slice(2)] : [...args, '--dir', dir], { timeout: 10000 })
    assert.notEqual(c.signal, 'SIGKILL', `${args[0]} hung`)
    assert.doesNotMatch(c.stderr, /at .*\.js:\d+/, `${args[0]} printed a stack: ${c.stderr}`)
    cli[args[0]] = c
  }
  return { out, cli }
}

/** Each result either succeeded or is a coded error naming `bad` (a path under `dir`). */
function refusedOrIgnored(out, bad) {
  for (const [k, v] of Object.entries(out)) {
    if ('ok' in v) continue
    assert.ok(v.code && v.code !== 'EIO', `${k}: ${JSON.stringify(v)}`)
    assert.ok(v.message.includes(bad), `${k}: the message names ${bad}: ${v.message}`)
  }
}

test('a symlink N.shared -> a directory of root\'s: no operation deletes, reads or writes anything behind it', { skip }, async (t) => {
  const dir = stickyDir(t)
  const v = victim(t)
  const before = snapshot(v.dir)
  const link = path.join(dir, 'svc.shared')
  asNobody('ln', '-s', v.dir, link)
  const { out } = await everything(t, dir, 'svc')
  assert.deepEqual(snapshot(v.dir), before, `victim directory changed: ${JSON.stringify(out)}`)
  refusedOrIgnored(out, link)
  // An exclusive holder does not need N.shared: it ignores the link and runs.
  assert.ok('ok' in out.exclusive, JSON.stringify(out.exclusive))
  // A shared holder would have to write there: refused, naming the link.
  assert.equal(out.shared.code, 'ESYMLINK', JSON.stringify(out.shared))
  // status ignores it too, and says so.
  assert.equal(out.statusProblem.ok?.code, 'ESYMLINK', JSON.stringify(out.statusProblem))
  assert.equal(out.statusProblem.ok.path, link)
  assert.ok(fs.lstatSync(link).isSymbolicLink(), 'the link itself is left for its owner to explain')
})

test('pid-guard prune alone with N.shared -> a directory of root\'s: nothing behind the link goes', { skip }, async (t) => {
  const dir = stickyDir(t)
  const v = victim(t)
  const before = snapshot(v.dir)
  // A released guard (only its lock file left): exactly what prune removes.
  const made = await h.node(t, `require(${ROOT}).acquire('svc', { dir: ${JSON.stringify(dir)} }).release()`)
  assert.equal(made.code, 0, made.stderr)
  asNobody('ln', '-s', v.dir, path.join(dir, 'svc.shared'))
  const r = await h.cli(t, ['prune', '--json', '--dir', dir], { timeout: 10000 })
  assert.ok(r.code === 0 || r.code === 1, r.stderr)
  assert.deepEqual(snapshot(v.dir), before, r.stdout)
  assert.ok(fs.lstatSync(path.join(dir, 'svc.shared')).isSymbolicLink())
})

test('a directory of another user at N.shared is never used: its files stay, shared acquire refuses', { skip }, async (t) => {
  const dir = stickyDir(t)
  const shared = path.join(dir, 'svc.shared')
  asNobody('mkdir', '-m', '777', shared)
  asNobody('sh', '-c', `echo 999999 > ${shared}/999999.pid; echo 1 > ${shared}/999998.json.tmp999997`)
  const before = snapshot(shared)
  const { out } = await everything(t, dir, 'svc')
  assert.deepEqual(snapshot(shared), before, JSON.stringify(out))
  refusedOrIgnored(out, shared)
  assert.ok('ok' in out.exclusive, JSON.stringify(out.exclusive))
  assert.equal(out.shared.code, 'EUNSAFEDIR', JSON.stringify(out.shared))
  assert.equal(out.statusProblem.ok?.code, 'EUNSAFEDIR', JSON.stringify(out.statusProblem))
})

for (const at of ['svc.pid', 'svc.json', 'svc.lock']) {
  test(`a symlink at ${at} -> root's file: the file is never written, and the link not followed`, { skip }, async (t) => {
    const dir = stickyDir(t)
    const v = victim(t)
    const before = snapshot(v.dir)
    const link = path.join(dir, at)
    asNobody('ln', '-s', v.file, link)
    const { out } = await everything(t, dir, 'svc')
    assert.deepEqual(snapshot(v.dir), before, JSON.stringify(out))
    refusedOrIgnored(out, link)
    assert.ok(fs.lstatSync(link).isSymbolicLink())
  })
}

test('a pid file another user planted at N.pid is not root\'s to remove: refused naming it, left as it was', { skip }, async (t) => {
  const dir = stickyDir(t)
  const pid = path.join(dir, 'svc.pid')
  asNobody('sh', '-c', `echo 999999 > ${pid}`)
  const before = snapshot(dir)
  const { out } = await everything(t, dir, 'svc')
  refusedOrIgnored(out, pid)
  assert.equal(out.exclusive.code, 'EUNSAFEFILE', JSON.stringify(out.exclusive))
  assert.match(out.exclusive.message, /belongs to uid \d+/)
  const after = snapshot(dir)
  assert.deepEqual(after['svc.pid'], before['svc.pid'], 'the planted file is untouched')
})

for (const at of ['svc.pid', 'svc.json', 'svc.lock', 'svc.shared/777777.pid', 'svc.shared/777777.json', 'svc.shared/777777.json.tmp777776']) {
  test(`a hard link at ${at} to a file of root's: content and link count unchanged by every operation`, { skip }, async (t) => {
    const dir = stickyDir(t)
    const v = victim(t)
    if (at.includes('/')) fs.mkdirSync(path.join(dir, 'svc.shared'), { mode: 0o700 })
    const link = path.join(dir, at)
    fs.linkSync(v.file, link)
    const before = snapshot(v.dir)
    const { out } = await everything(t, dir, 'svc')
    assert.deepEqual(snapshot(v.dir), before, JSON.stringify(out))
    refusedOrIgnored(out, link)
    // A hard link inside N.shared is not ours to remove: an exclusive holder ignores it.
    if (at.includes('/')) assert.ok('ok' in out.exclusive, JSON.stringify(out.exclusive))
  })
}

for (const kind of ['symlink', 'fifo', 'dir']) {
  test(`a ${kind} at an entry inside a real N.shared: ignored (never followed, opened or removed), exclusive acquire runs`, { skip }, async (t) => {
    const dir = stickyDir(t)
    const v = victim(t)
    const before = snapshot(v.dir)
    const shared = path.join(dir, 'svc.shared')
    fs.mkdirSync(shared, { mode: 0o700 })
    const odd = ['777777.pid', '777777.json', '777777.json.tmp777776'].map((f) => path.join(shared, f))
    for (const p of odd) {
      if (kind === 'symlink') fs.symlinkSync(v.file, p)
      else if (kind === 'fifo') execFileSync('mkfifo', [p])
      else fs.mkdirSync(p)
    }
    const { out } = await everything(t, dir, 'svc')
    assert.deepEqual(snapshot(v.dir), before, JSON.stringify(out))
    assert.ok('ok' in out.exclusive, JSON.stringify(out.exclusive))
    assert.ok('ok' in out.shared, JSON.stringify(out.shared))
    for (const p of odd) {
      const st = fs.lstatSync(p)
      assert.ok(kind === 'symlink' ? st.isSymbolicLink() : kind === 'fifo' ? st.isFIFO() : st.isDirectory(), `${p} left alone`)
    }
  })
}

test('list reports an odd entry (FIFO or directory at x.lock / x.pid) as unsafe, with a sentence, and keeps the others', { skip: process.platform === 'win32' }, async (t) => {
  const dir = h.tmpDir(t)
  execFileSync('mkfifo', [path.join(dir, 'f.lock')])
  fs.mkdirSync(path.join(dir, 'd.pid'))
  const code = `
    const pg = require(${ROOT})
    const dir = ${JSON.stringify(dir)}
    const g = pg.acquire('good', { dir })
    process.stdout.write(JSON.stringify(pg.list({ dir })))
    g.release()
  `
  const r = await h.node(t, code, { timeout: 10000 })
  assert.equal(r.code, 0, r.stderr)
  const list = JSON.parse(r.stdout)
  const by = Object.fromEntries(list.map((s) => [s.name, s]))
  assert.equal(by.good?.state, 'held', r.stdout)
  for (const [n, f] of [['f', 'f.lock'], ['d', 'd.pid']]) {
    assert.equal(by[n]?.state, 'unsafe', `${n}: ${r.stdout}`)
    assert.equal(by[n].problem.code, 'EUNSAFEFILE', r.stdout)
    assert.ok(by[n].problem.message.includes(path.join(dir, f)), by[n].problem.message)
  }
  const human = await h.cli(t, ['list', '--dir', dir], { timeout: 10000 })
  assert.equal(human.code, 0, human.stderr)
  assert.match(human.stdout, /^f\s+unsafe/m, human.stdout)
  assert.match(human.stdout, /^d\s+unsafe/m, human.stdout)
  assert.ok(human.stdout.includes(path.join(dir, 'f.lock')), `the human table says why: ${human.stdout}`)
  const json = await h.cli(t, ['list', '--json', '--dir', dir], { timeout: 10000 })
  assert.equal(json.code, 0, json.stderr)
  assert.equal(JSON.parse(json.stdout).find((s) => s.name === 'f').state, 'unsafe')
})

test('the guard directory is opened per operation and closed again: fds stay flat over 3,000 cycles (exclusive and shared)', { skip: process.platform !== 'linux' }, async (t) => {
  const dir = h.tmpDir(t)
  const code = `
    const fs = require('node:fs')
    const pg = require(${ROOT})
    const dir = ${JSON.stringify(dir)}
    const fds = () => fs.readdirSync('/proc/self/fd').length
    for (let i = 0; i < 50; i++) pg.acquire('fd', { dir }).release()
    const before = fds()
    for (let i = 0; i < 1500; i++) pg.acquire('fd', { dir }).release()
    for (let i = 0; i < 1500; i++) pg.acquire('fd', { dir, mode: 'shared' }).release()
    process.stdout.write(JSON.stringify({ before, after: fds() }))
  `
  const r = await h.node(t, code, { timeout: 60000, nodeArgs: ['--max-semi-space-size=64'] })
  assert.equal(r.code, 0, r.stderr)
  const { before, after } = JSON.parse(r.stdout)
  assert.ok(after - before <= 4, `fds grew from ${before} to ${after}`)
})
