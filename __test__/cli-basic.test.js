'use strict'
// The CLI's basic commands, run as real processes: check, status, list, --version, --help.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const h = require('./helpers')
const pkg = require('../package.json')

test('check: exit 0 and silent when free, leaving nothing behind', async (t) => {
  const dir = h.tmpDir(t)
  const r = await h.cli(t, ['check', 'svc', '--dir', dir])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, '')
  assert.equal(r.stderr, '')
  assert.equal(fs.existsSync(path.join(dir, 'svc.pid')), false)
  // PID_GUARD_DIR works the same.
  const r2 = await h.cli(t, ['check', 'svc'], { env: { PID_GUARD_DIR: dir } })
  assert.equal(r2.code, 0, r2.stderr)
})

test('check: exit 1 naming the holder pid when held; the holder files are untouched', async (t) => {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'svc', dir })
  const pidPath = path.join(dir, 'svc.pid')
  const before = h.snapshot(pidPath)
  const r = await h.cli(t, ['check', 'svc', '--dir', dir])
  assert.equal(r.code, 1)
  assert.match(r.stderr, new RegExp(`\\b${holder.pid}\\b`))
  assert.ok(r.stderr.includes(pidPath), r.stderr)
  assert.deepEqual(h.snapshot(pidPath), before)
  const r2 = await h.cli(t, ['check', 'svc'], { env: { PID_GUARD_DIR: dir } })
  assert.equal(r2.code, 1)
})

test('check: a stale guard is cleaned and said in one line', async (t) => {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'svc', dir })
  holder.child.kill('SIGKILL')
  await h.waitExit(holder)
  const r = await h.cli(t, ['check', 'svc', '--dir', dir])
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.split('\n').filter(Boolean)
  assert.equal(lines.length, 1, r.stdout)
  assert.match(lines[0], /stale/)
  assert.match(lines[0], new RegExp(`${holder.pid}`))
  assert.equal(fs.existsSync(path.join(dir, 'svc.pid')), false)
  // Now it is simply free: silent.
  const again = await h.cli(t, ['check', 'svc', '--dir', dir])
  assert.equal(again.code, 0)
  assert.equal(again.stdout, '')
})

test('status --json: held (exit 0), free (exit 3), stale (exit 3); read-only', async (t) => {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'svc', dir, meta: { port: 8123 } })
  const r = await h.cli(t, ['status', 'svc', '--json', '--dir', dir])
  assert.equal(r.code, 0, r.stderr)
  const s = JSON.parse(r.stdout)
  assert.equal(s.state, 'held')
  assert.equal(s.name, 'svc')
  assert.equal(s.holders[0].pid, holder.pid)
  assert.equal(s.holders[0].meta.port, 8123)
  assert.equal(s.pidFile.path, path.join(dir, 'svc.pid'))
  assert.equal(s.pidFile.valid, true)

  const text = await h.cli(t, ['status', 'svc', '--dir', dir])
  assert.equal(text.code, 0)
  assert.match(text.stdout, /svc: held/)
  assert.match(text.stdout, new RegExp(`pid ${holder.pid}`))

  const free = await h.cli(t, ['status', 'other', '--json', '--dir', dir])
  assert.equal(free.code, 3)
  assert.equal(JSON.parse(free.stdout).state, 'free')

  holder.child.kill('SIGKILL')
  await h.waitExit(holder)
  const files = fs.readdirSync(dir).sort()
  const stale = await h.cli(t, ['status', 'svc', '--json', '--dir', dir])
  assert.equal(stale.code, 3)
  assert.equal(JSON.parse(stale.stdout).state, 'stale')
  assert.deepEqual(fs.readdirSync(dir).sort(), files, 'status touched nothing')
})

test('list and status without a name show every guard', async (t) => {
  const dir = h.tmpDir(t)
  const a = await h.hold(t, { name: 'alpha', dir, meta: { port: 7001 } })
  const b = await h.hold(t, { name: 'beta', dir })
  const r = await h.cli(t, ['list', '--dir', dir])
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trimEnd().split('\n')
  assert.match(lines[0], /^NAME\s+STATE\s+PID/)
  assert.equal(lines.length, 3, r.stdout)
  assert.match(lines[1], new RegExp(`^alpha\\s+held\\s+${a.pid}\\b.*7001`))
  assert.match(lines[2], new RegExp(`^beta\\s+held\\s+${b.pid}\\b`))

  const j = await h.cli(t, ['list', '--json', '--dir', dir])
  const arr = JSON.parse(j.stdout)
  assert.deepEqual(arr.map((s) => [s.name, s.state, s.holders[0].pid]), [
    ['alpha', 'held', a.pid],
    ['beta', 'held', b.pid],
  ])
  const all = await h.cli(t, ['status', '--json', '--dir', dir])
  assert.equal(all.code, 0)
  assert.deepEqual(JSON.parse(all.stdout).map((s) => s.name), ['alpha', 'beta'])

  const empty = h.tmpDir(t)
  const none = await h.cli(t, ['list', '--json', '--dir', empty])
  assert.deepEqual(JSON.parse(none.stdout), [])
})

test('--version, --help, and usage errors exit 2', async (t) => {
  const v = await h.cli(t, ['--version'])
  assert.equal(v.code, 0)
  // "<version> (native binary)": the version first, then which one ran.
  assert.equal(v.stdout.split(' ')[0].trim(), pkg.version)
  assert.match(v.stdout, /^\S+ \(native binary\b/)

  const help = await h.cli(t, ['--help'])
  assert.equal(help.code, 0)
  for (const c of ['check', 'status', 'list']) assert.match(help.stdout, new RegExp(`^\\s+${c}\\s`, 'm'))

  const cmdHelp = await h.cli(t, ['check', '--help'])
  assert.equal(cmdHelp.code, 0)
  assert.match(cmdHelp.stdout, /Usage: pid-guard check/)

  const none = await h.cli(t, [])
  assert.equal(none.code, 2)
  assert.match(none.stdout + none.stderr, /Usage/)

  const unknown = await h.cli(t, ['frobnicate'])
  assert.equal(unknown.code, 2)
  assert.match(unknown.stderr, /unknown command "frobnicate"/)

  const dir = h.tmpDir(t)
  for (const args of [
    ['check', '--dir', dir],
    ['check', 'a', 'b', '--dir', dir],
    ['check', 'svc', '--bogus', '--dir', dir],
    ['check', '.bad', '--dir', dir],
    ['list', 'extra', '--dir', dir],
  ]) {
    const r = await h.cli(t, args)
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /pid-guard/)
  }
  assert.deepEqual(fs.readdirSync(dir), [])
})

test('status colours its state on a terminal only, never with NO_COLOR or into a pipe', { skip: h.posixOnly('a pseudo-terminal from script(1)') }, async (t) => {
  const dir = h.tmpDir(t)
  await h.hold(t, { name: 'svc', dir })
  const cmd = `${JSON.stringify(h.BIN)} status svc --dir ${JSON.stringify(dir)}`
  const env = { TERM: 'xterm', NO_COLOR: undefined }
  // util-linux script(1) runs the command on a real pseudo-terminal.
  const tty = await h.runFile(t, 'script', ['-qefc', cmd, '/dev/null'], { env })
  assert.equal(tty.code, 0, tty.stdout)
  assert.ok(tty.stdout.includes('svc: \x1b[32mheld\x1b[0m'), JSON.stringify(tty.stdout))
  const noColor = await h.runFile(t, 'script', ['-qefc', cmd, '/dev/null'], { env: { ...env, NO_COLOR: '1' } })
  assert.match(noColor.stdout, /svc: held/)
  assert.ok(!noColor.stdout.includes('\x1b'), JSON.stringify(noColor.stdout))
  const piped = await h.cli(t, ['status', 'svc', '--dir', dir], { env: { TERM: 'xterm' } })
  assert.ok(!piped.stdout.includes('\x1b'), JSON.stringify(piped.stdout))
})

/** Root with util-linux unshare: a PID namespace of its own with its own /proc. */
function unshareSkip() {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root on Linux (unshare --pid)'
  const r = require('node:child_process').spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore', timeout: 5000 })
  return r.status === 0 ? false : 'unshare --pid --fork --mount-proc is not available here'
}

test('status and check from another PID namespace: held by a process this user cannot see, never free', { skip: unshareSkip() }, async (t) => {
  const dir = h.tmpDir(t)
  await h.hold(t, { name: 'svc', dir })
  const inNs = (args) => h.runFile(t, 'unshare', ['--pid', '--fork', '--mount-proc', h.BIN, ...args])
  const st = await inNs(['status', 'svc', '--dir', dir])
  assert.equal(st.code, 0, st.stdout + st.stderr)
  assert.match(st.stdout, /^svc: held \(exclusive\)\n {2}held by a process this user cannot see\n/)
  const j = JSON.parse((await inNs(['status', 'svc', '--json', '--dir', dir])).stdout)
  assert.deepEqual(j.holders.map((x) => [x.pid, x.alive, x.verified, x.meta]), [[null, true, false, null]])
  const c = await inNs(['check', 'svc', '--dir', dir])
  assert.equal(c.code, 1, c.stdout + c.stderr)
  assert.match(c.stderr, /held by a process this user cannot see/)
})
