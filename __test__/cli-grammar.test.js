'use strict'
// The native command's grammar (issue 12): `help <command>`, options before or after the command,
// one-line usage errors with exit 2, `--` ends pid-guard's options. Real processes of the binary.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const h = require('./helpers')

test('options go before or after the command', async (t) => {
  const dir = h.tmpDir(t)
  const holder = await h.hold(t, { name: 'svc', dir })
  for (const args of [
    ['--dir', dir, 'status', 'svc', '--json'],
    ['status', 'svc', '--dir', dir, '--json'],
    ['--json', 'status', '--dir', dir, 'svc'],
    [`--dir=${dir}`, 'status', 'svc', '--json'],
  ]) {
    const r = await h.cli(t, args)
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`)
    const s = JSON.parse(r.stdout)
    assert.equal(s.state, 'held', args.join(' '))
    assert.equal(s.holders[0].pid, holder.pid, args.join(' '))
  }
  const list = await h.cli(t, ['--dir', dir, 'list'])
  assert.equal(list.code, 0, list.stderr)
  assert.match(list.stdout, new RegExp(`^svc\\s+held\\s+${holder.pid}\\b`, 'm'))
})

test('help <command> and <command> --help print that command\'s usage, exit 0', async (t) => {
  for (const c of ['check', 'status', 'list', 'stop', 'prune', 'health', 'run']) {
    const a = await h.cli(t, ['help', c])
    assert.equal(a.code, 0, `help ${c}: ${a.stderr}`)
    assert.match(a.stdout, new RegExp(`^Usage: pid-guard ${c}\\b`), `help ${c}`)
    const b = await h.cli(t, [c, '--help'])
    assert.equal(b.code, 0, `${c} --help: ${b.stderr}`)
    assert.equal(b.stdout, a.stdout, `${c} --help is help ${c}`)
    const c2 = await h.cli(t, [c, '-h'])
    assert.equal(c2.stdout, a.stdout, `${c} -h`)
  }
  const top = await h.cli(t, ['help'])
  assert.equal(top.code, 0)
  assert.match(top.stdout, /^Usage: pid-guard <command>/)
  for (const c of ['check', 'status', 'list', 'health', 'run', 'stop', 'prune']) assert.match(top.stdout, new RegExp(`^\\s+${c}\\s`, 'm'))
  const none = await h.cli(t, [])
  assert.equal(none.code, 2)
  assert.match(none.stdout + none.stderr, /^Usage: pid-guard <command>/m)
})

test('usage errors: one line on stderr, nothing on stdout, exit 2, nothing touched', async (t) => {
  const dir = h.tmpDir(t)
  const cases = [
    [['status', 'x', '--bogus', '--dir', dir], /^pid-guard status: unexpected argument '--bogus' \(see pid-guard status --help\)\n$/],
    [['--bogus', 'status', '--dir', dir], /^pid-guard: unexpected argument '--bogus' \(see pid-guard --help\)\n$/],
    [['check', '--dir', dir], /^pid-guard check: expects exactly one guard name \(see pid-guard check --help\)\n$/],
    [['status', 'a', 'b', '--dir', dir], /^pid-guard status: expects at most one guard name \(see pid-guard status --help\)\n$/],
    [['list', 'extra', '--dir', dir], /^pid-guard list: takes no arguments \(see pid-guard list --help\)\n$/],
    [['stop', '--port', 'http', '--dir', dir], /^pid-guard stop: --port expects 1-65535, not "http" \(see pid-guard stop --help\)\n$/],
    [['stop', 'svc', '--pid', '5'], /^pid-guard stop: expects one target: a guard name, --pid N or --port N \(see pid-guard stop --help\)\n$/],
    [['status', '--dir'], /^pid-guard status: .*--dir.* \(see pid-guard status --help\)\n$/],
    [['frobnicate'], /^pid-guard: unknown command "frobnicate".*\n$/],
    [['help', 'frobnicate'], /^pid-guard: unknown command "frobnicate".*\n$/],
  ]
  for (const [args, want] of cases) {
    const r = await h.cli(t, args)
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, want, args.join(' '))
    assert.equal(r.stdout, '', args.join(' '))
  }
  assert.deepEqual(fs.readdirSync(dir), [])
})

test('`--` ends pid-guard\'s options: what follows is a name, even one starting with -', async (t) => {
  const dir = h.tmpDir(t)
  // `-h` after `--` is not pid-guard's --help: it is a guard name (a valid one), so status
  // answers about the guard "-h" rather than printing its usage with exit 0.
  const r = await h.cli(t, ['status', '--dir', dir, '--json', '--', '-h'])
  assert.equal(r.code, 3, r.stdout + r.stderr)
  assert.doesNotMatch(r.stdout, /Usage/)
  assert.equal(JSON.parse(r.stdout).name, '-h')
  // The same for check: the guard "--help" is checked (free: exit 0, silent), no usage printed.
  const c = await h.cli(t, ['check', '--dir', dir, '--', '--help'])
  assert.equal(c.code, 0, c.stdout + c.stderr)
  assert.equal(c.stdout, '')
  const ok = await h.cli(t, ['status', '--dir', dir, '--json', '--', 'free-one'])
  assert.equal(ok.code, 3, ok.stderr)
  assert.equal(JSON.parse(ok.stdout).state, 'free')
})
