'use strict'
// `pid-guard health` end to end: real service processes (fixtures/cli-service.js: a guard with meta
// { port, url } and a real HTTP server on 127.0.0.1), the native command (h.BIN) as a child process, exit codes,
// --json schema, --prometheus through the real parser, colours, --watch with SIGINT, npm exec and
// npm lifecycle scripts.

const test = require('node:test')
const assert = require('node:assert')
const fs = require('node:fs')
const net = require('node:net')
const path = require('node:path')
const { spawn, execFileSync } = require('node:child_process')
const testDeps = require('../scripts/test-deps')
const h = require('./helpers')

const { posixOnly } = h

const ROOT = path.join(__dirname, '..')
// The native command; the npm exec / lifecycle tests at the end go through the package's bin.
const BIN = h.BIN
const SERVICE = path.join(__dirname, 'fixtures', 'cli-service.js')
const DEADLINE = 15000
const ESC = '\x1b['
const STACK = /\n\s+at .+[:(]\d+:\d+/

function tmpDir(t, prefix = 'pg-cli-') {
  return h.tmpDir(t, prefix)
}

function alive(child) {
  return child.exitCode === null && child.signalCode === null
}

/** Waits for `pred()` with a deadline (polling; no fixed sleeps). */
async function until(pred, what, ms = DEADLINE) {
  const end = Date.now() + ms
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Starts the service fixture and resolves with its ready line; killed after the test. */
function startService(t, opts) {
  const child = spawn(process.execPath, [SERVICE, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] })
  let ready = null
  t.after(() => {
    if (alive(child)) child.kill('SIGKILL')
    // The sleep children this test started through the fixture.
    for (const pid of ready?.childPids ?? []) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
  })
  return new Promise((resolve, reject) => {
    let buf = ''
    let err = ''
    const timer = setTimeout(() => reject(new Error(`service fixture not ready in time: ${err}`)), DEADLINE)
    child.stderr.on('data', (d) => (err += d))
    child.stdout.on('data', (d) => {
      buf += d
      const i = buf.indexOf('\n')
      if (i >= 0 && !ready) {
        ready = JSON.parse(buf.slice(0, i))
        clearTimeout(timer)
        resolve({ ...ready, child })
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      if (!ready) reject(new Error(`service fixture exited ${code}: ${err}`))
    })
  })
}

/** Runs the CLI off a TTY, without NO_COLOR / PID_GUARD_DIR from the outer environment. */
function cli(t, args, opts = {}) {
  const base = { ...process.env }
  delete base.NO_COLOR
  delete base.PID_GUARD_DIR
  return runCmdEnv(t, BIN, args, { ...base, ...opts.env }, opts.cwd)
}

/** Runs a command to completion (killed at the deadline) and resolves with code and output. */
function runCmdEnv(t, file, args, env, cwd = ROOT) {
  const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => alive(child) && child.kill('SIGKILL'))
  return new Promise((resolve, reject) => {
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${args.join(' ')} did not finish: ${stdout} ${stderr}`))
    }, DEADLINE)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

function noStack(r) {
  assert.doesNotMatch(r.stdout + r.stderr, STACK, `no stack trace:\n${r.stdout}\n${r.stderr}`)
  assert.ok(!(r.stdout + r.stderr).includes('unexpected error'), r.stderr)
}

function parseProm(text) {
  const code = `
import sys, json
from prometheus_client.parser import text_string_to_metric_families
print(json.dumps([{"name": f.name, "type": f.type, "samples": [[s.name, s.labels, s.value] for s in f.samples]}
                  for f in text_string_to_metric_families(sys.stdin.read())]))`
  return JSON.parse(execFileSync('python3', ['-c', code], { input: text, encoding: 'utf8', env: { ...process.env, PYTHONPATH: testDeps.ensure({ quiet: true }) } }))
}

/** A TCP port on 127.0.0.1 nobody listens on (bound, then closed). */
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

function assertHealthSchema(h, svc, name) {
  assert.strictEqual(h.name, name)
  assert.strictEqual(h.pid, svc.pid)
  assert.strictEqual(h.alive, true)
  assert.strictEqual(typeof h.startedAt, 'number')
  assert.ok(Math.abs(h.startedAt - Date.now()) < 120_000, `startedAt ${h.startedAt}`)
  assert.strictEqual(typeof h.uptimeMs, 'number')
  assert.ok(h.uptimeMs >= 0 && h.uptimeMs < 120_000, `uptimeMs ${h.uptimeMs}`)
  assert.ok(h.cpuPercent === null || (typeof h.cpuPercent === 'number' && h.cpuPercent >= 0), `cpuPercent ${h.cpuPercent}`)
  assert.strictEqual(typeof h.memory, 'object')
  assert.ok(Number.isInteger(h.memory.rss) && h.memory.rss > 1_000_000, `rss ${h.memory.rss}`)
  assert.ok(Number.isInteger(h.memory.virtual) && h.memory.virtual >= h.memory.rss, `virtual ${h.memory.virtual}`)
  assert.ok(Number.isInteger(h.threads) && h.threads >= 1, `threads ${h.threads}`)
  assert.strictEqual(h.children, svc.childPids.length)
  assert.ok(Array.isArray(h.listening))
  for (const l of h.listening) {
    assert.strictEqual(typeof l.address, 'string')
    assert.ok(Number.isInteger(l.port))
    assert.ok(l.family === 'ipv4' || l.family === 'ipv6', l.family)
  }
  assert.ok(h.listening.some((l) => l.port === svc.port && l.address === '127.0.0.1' && l.family === 'ipv4'), JSON.stringify(h.listening))
  assert.deepStrictEqual({ number: h.port.number, listening: h.port.listening, ownedByPid: h.port.ownedByPid }, { number: svc.port, listening: true, ownedByPid: true })
  assert.strictEqual(h.endpoint.url, svc.url)
  assert.strictEqual(h.endpoint.ok, true)
  assert.strictEqual(h.endpoint.status, 200)
  assert.strictEqual(typeof h.endpoint.latencyMs, 'number')
  assert.strictEqual(h.endpoint.body.status, 'ok')
  assert.strictEqual(h.endpoint.body.queue, 3)
  assert.strictEqual(h.endpoint.error, null)
  assert.strictEqual(h.healthy, true)
  assert.deepStrictEqual(h.problems, [])
}

test('usage errors exit 2 with the usage text and no stack trace', async (t) => {
  const dir = tmpDir(t)
  const cases = [
    ['--pid', '123', '--port', '80'],
    ['svc', '--json', '--prometheus'],
    ['svc', '--pid', String(process.pid)],
    ['--port', 'http'],
    ['--port', '70000'],
    ['--port', '-1'],
    ['--pid', 'abc'],
    ['one', 'two'],
    ['svc', '--watch=soon'],
    ['svc', '--url', 'not a url'],
    ['svc', '--url', 'ftp://127.0.0.1/x'],
    ['svc', '--no-such-flag'],
    ['svc', '--sample', '1.5'],
  ]
  for (const args of cases) {
    const r = await cli(t, ['health', ...args, '--dir', dir])
    assert.strictEqual(r.code, 2, `${args.join(' ')} -> ${r.code}\n${r.stdout}${r.stderr}`)
    // One line naming the command and where its usage is (issue 12), not the whole usage text.
    assert.match(r.stderr, /^pid-guard health: .+ \(see pid-guard health --help\)\n$/, args.join(' '))
    assert.strictEqual(r.stdout, '', args.join(' '))
    noStack(r)
  }
  const help = await cli(t, ['health', '--help'])
  assert.strictEqual(help.code, 0)
  assert.match(help.stdout, /--prometheus/)
})

test('unknown name, dead pid and a port nobody listens on exit 3 with a plain message', { skip: posixOnly('parses --prometheus with python3') }, async (t) => {
  const dir = tmpDir(t)
  // A pid that surely is gone: a child we started and waited for.
  const dead = spawn(process.execPath, ['-e', '0'])
  const deadPid = dead.pid
  await new Promise((r) => dead.on('exit', r))
  const port = await freePort()
  for (const args of [['nobody-here'], ['--pid', String(deadPid)], ['--port', String(port)], ['nobody-here', '--json'], ['--pid', String(deadPid), '--prometheus']]) {
    const r = await cli(t, ['health', ...args, '--dir', dir])
    assert.strictEqual(r.code, 3, `${args.join(' ')} -> ${r.code}\n${r.stdout}${r.stderr}`)
    assert.ok((r.stdout + r.stderr).trim().length > 0, 'says something')
    noStack(r)
    if (args.includes('--json')) JSON.parse(r.stdout)
    if (args.includes('--prometheus')) parseProm(r.stdout)
  }
  // No guards at all in the directory.
  const none = await cli(t, ['health', '--dir', dir])
  assert.strictEqual(none.code, 3)
  noStack(none)
})

test('a healthy service: exit 0, one line per check, no escape codes off a TTY', { skip: h.wineGap('noOwner') }, async (t) => {
  const dir = tmpDir(t)
  const svc = await startService(t, { name: 'api', dir, children: 2 })
  const r = await cli(t, ['health', 'api', '--dir', dir])
  assert.strictEqual(r.code, 0, r.stdout + r.stderr)
  noStack(r)
  assert.ok(!r.stdout.includes(ESC) && !r.stderr.includes(ESC), JSON.stringify(r.stdout))
  const out = r.stdout
  assert.match(out, new RegExp(`^api \\(pid ${svc.pid}\\): healthy$`, 'm'))
  assert.match(out, /^ {2}✓ running +up \d+ s/m)
  assert.match(out, /^ {2}✓ cpu +\d+\.\d %$/m)
  assert.match(out, /^ {2}✓ memory +rss [\d.]+ MiB, virtual [\d.]+ [MG]iB, \d+ threads?$/m)
  assert.match(out, new RegExp(`^  ✓ port ${svc.port} +listening$`, 'm'))
  assert.match(out, new RegExp(`^  ✓ endpoint +${svc.url.replace(/[.?]/g, '\\$&')} 200 in \\d+ ms  status=ok uptime=\\d+ queue=3$`, 'm'))
  assert.match(out, /^ {2}✓ children +2$/m)

  // The same through the environment variable, and every guard when no name is given.
  const all = await cli(t, ['health'], { env: { PID_GUARD_DIR: dir } })
  assert.strictEqual(all.code, 0, all.stdout + all.stderr)
  assert.match(all.stdout, /^api \(pid \d+\): healthy$/m)

  // By port: the process listening on it.
  const byPort = await cli(t, ['health', '--port', String(svc.port), '--json', '--dir', dir])
  assert.strictEqual(byPort.code, 0, byPort.stdout + byPort.stderr)
  assert.strictEqual(JSON.parse(byPort.stdout).pid, svc.pid)
  // By pid, with the URL given on the command line.
  const byPid = await cli(t, ['health', '--pid', String(svc.pid), '--url', svc.url, '--json'])
  assert.strictEqual(byPid.code, 0, byPid.stdout + byPid.stderr)
  const h = JSON.parse(byPid.stdout)
  assert.strictEqual(h.pid, svc.pid)
  assert.strictEqual(h.endpoint.status, 200)
})

test('--json has the Health schema', { skip: h.wineGap('noOwner') }, async (t) => {
  const dir = tmpDir(t)
  const svc = await startService(t, { name: 'api', dir, children: 2 })
  const r = await cli(t, ['health', 'api', '--json', '--sample', '200', '--dir', dir])
  assert.strictEqual(r.code, 0, r.stdout + r.stderr)
  const h = JSON.parse(r.stdout)
  assertHealthSchema(h, svc, 'api')
  assert.strictEqual(typeof h.cpuPercent, 'number')
  // Without a name: an array of every guard.
  const all = await cli(t, ['health', '--json', '--dir', dir])
  assert.strictEqual(all.code, 0)
  const arr = JSON.parse(all.stdout)
  assert.ok(Array.isArray(arr) && arr.length === 1)
  assertHealthSchema(arr[0], svc, 'api')
})

test('--prometheus output is accepted by the real parser', { skip: posixOnly('the Prometheus parser runs in python3') }, async (t) => {
  const dir = tmpDir(t)
  const svc = await startService(t, { name: 'api', dir })
  await startService(t, { name: 'worker', dir, status: 503 })
  const one = await cli(t, ['health', 'api', '--prometheus', '--dir', dir])
  assert.strictEqual(one.code, 0, one.stderr)
  const fams = parseProm(one.stdout)
  const get = (fs, n) => fs.find((f) => f.name === n)?.samples ?? []
  assert.deepStrictEqual(get(fams, 'pid_guard_up'), [['pid_guard_up', { name: 'api' }, 1]])
  assert.deepStrictEqual(get(fams, 'pid_guard_port_listening'), [['pid_guard_port_listening', { name: 'api', port: String(svc.port) }, 1]])
  assert.strictEqual(get(fams, 'pid_guard_endpoint_up')[0][2], 1)
  assert.ok(get(fams, 'pid_guard_memory_rss_bytes')[0][2] > 1_000_000)

  // Every guard, one unhealthy: exit 1, both labelled, still valid.
  const all = await cli(t, ['health', '--prometheus', '--dir', dir])
  assert.strictEqual(all.code, 1, all.stdout + all.stderr)
  const fa = parseProm(all.stdout)
  assert.deepStrictEqual(get(fa, 'pid_guard_healthy').map((s) => [s[1].name, s[2]]), [['api', 1], ['worker', 0]])
  assert.deepStrictEqual(get(fa, 'pid_guard_endpoint_status_code').map((s) => s[2]), [200, 503])
  // Label escaping of odd names is covered in prometheus.test.js (guard names are [A-Za-z0-9._-]).
})

test('--prometheus-file writes the textfile atomically (temp file, rename), and --watch rewrites it', { skip: posixOnly('the Prometheus parser runs in python3') }, async (t) => {
  const dir = tmpDir(t)
  const out = tmpDir(t, 'pg-textfile-')
  await startService(t, { name: 'api', dir })
  const file = path.join(out, 'api.prom')
  const r = await cli(t, ['health', 'api', '--prometheus-file', file, '--dir', dir])
  assert.strictEqual(r.code, 0, r.stderr)
  assert.strictEqual(r.stdout, '', 'nothing on stdout: the sample went to the file')
  const get = (fs, n) => fs.find((f) => f.name === n)?.samples ?? []
  assert.deepStrictEqual(get(parseProm(fs.readFileSync(file, 'utf8')), 'pid_guard_up'), [['pid_guard_up', { name: 'api' }, 1]])
  assert.deepStrictEqual(fs.readdirSync(out), ['api.prom'], 'no temp file left beside it')
  // A directory that cannot take it: exit 1 naming the file, never a half-written file.
  const bad = await cli(t, ['health', 'api', '--prometheus-file', path.join(out, 'missing', 'x.prom'), '--dir', dir])
  assert.strictEqual(bad.code, 1)
  assert.match(bad.stderr, /cannot write .*missing.x\.prom/)
  assert.strictEqual(fs.existsSync(path.join(out, 'missing')), false)
  const usage = await cli(t, ['health', 'api', '--prometheus-file', file, '--json', '--dir', dir])
  assert.strictEqual(usage.code, 2)

  // --watch: the file is replaced (a new inode each time: rename, never an in-place rewrite).
  const first = fs.statSync(file).ino
  const w = spawn(BIN, ['health', 'api', '--watch=100', '--prometheus-file', file, '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => alive(w) && w.kill('SIGKILL'))
  const seen = new Set([first])
  const deadline = Date.now() + DEADLINE
  while (seen.size < 3 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 20))
    try { seen.add(fs.statSync(file).ino) } catch {}
  }
  assert.ok(seen.size >= 3, `rewritten at least twice (${seen.size - 1})`)
  w.kill('SIGINT')
  const [code] = await new Promise((res) => w.on('exit', (...a) => res(a)))
  assert.strictEqual(code, 0)
  assert.deepStrictEqual(fs.readdirSync(out), ['api.prom'])
})

test('--prometheus-file: a failed write names the file and says what to do; --watch says so each time, recovers, and stops on SIGTERM leaving no temp file', { skip: posixOnly('SIGTERM to a child') }, async (t) => {
  const dir = tmpDir(t)
  const out = tmpDir(t, 'pg-textfile-')
  await startService(t, { name: 'api', dir })
  const missing = path.join(out, 'missing', 'x.prom')
  const r = await cli(t, ['health', 'api', '--prometheus-file', missing, '--dir', dir])
  assert.strictEqual(r.code, 1)
  assert.match(r.stderr, new RegExp(`cannot write ${missing.replace(/[.]/g, '\\.')}: the directory .*missing does not exist; create it`), r.stderr)
  noStack(r)
  const isDir = await cli(t, ['health', 'api', '--prometheus-file', out, '--dir', dir])
  assert.strictEqual(isDir.code, 1)
  assert.match(isDir.stderr, /is a directory; give a file path inside it/, isDir.stderr)
  assert.deepStrictEqual(fs.readdirSync(out), [], 'no temp file left')

  // --watch into a directory that goes away and comes back: said at each sample, then written again.
  const sub = path.join(out, 'sub')
  fs.mkdirSync(sub)
  const file = path.join(sub, 'api.prom')
  const w = spawn(BIN, ['health', 'api', '--watch=100', '--prometheus-file', file, '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => alive(w) && w.kill('SIGKILL'))
  let err = ''
  w.stderr.setEncoding('utf8').on('data', (d) => (err += d))
  await until(() => fs.existsSync(file), 'the first textfile')
  fs.rmSync(sub, { recursive: true })
  await until(() => (err.match(/cannot write .*sub.api\.prom: the directory .*sub does not exist/g) ?? []).length >= 2, `two failed samples said on stderr: ${err}`)
  assert.ok(alive(w), 'a failed write does not end the watch')
  fs.mkdirSync(sub)
  await until(() => fs.existsSync(file), 'the textfile written again')
  assert.strictEqual(parseProm(fs.readFileSync(file, 'utf8')).find((f) => f.name === 'pid_guard_up').samples[0][2], 1)
  const exited = new Promise((res) => w.on('exit', (code, signal) => res({ code, signal })))
  w.kill('SIGTERM')
  assert.deepStrictEqual(await exited, { code: 0, signal: null }, 'SIGTERM ends the watch quietly')
  assert.deepStrictEqual(fs.readdirSync(sub), ['api.prom'], 'no temp file left beside it')
})

test('an unhealthy service exits 1 and says why; a killed one exits 3', { skip: h.wineGap('noOwner') }, async (t) => {
  const dir = tmpDir(t)
  const svc = await startService(t, { name: 'api', dir, status: 500 })
  const r = await cli(t, ['health', 'api', '--dir', dir])
  assert.strictEqual(r.code, 1, r.stdout + r.stderr)
  noStack(r)
  assert.match(r.stdout, /^api \(pid \d+\): unhealthy$/m)
  assert.match(r.stdout, /^ {2}✗ endpoint .* 500 /m)
  assert.match(r.stdout, /^ {2}! .+/m, 'the problem sentence')
  const j = await cli(t, ['health', 'api', '--json', '--dir', dir])
  assert.strictEqual(j.code, 1)
  const h = JSON.parse(j.stdout)
  assert.strictEqual(h.healthy, false)
  assert.strictEqual(h.endpoint.status, 500)
  assert.strictEqual(h.endpoint.ok, false)
  assert.ok(h.problems.length >= 1 && h.problems.every((p) => typeof p === 'string'))

  // Non-JSON body: fine (200), body kept as text.
  const txt = await startService(t, { name: 'plain', dir, body: 'text' })
  const p = await cli(t, ['health', 'plain', '--json', '--dir', dir])
  assert.strictEqual(p.code, 0, p.stdout + p.stderr)
  assert.strictEqual(JSON.parse(p.stdout).pid, txt.pid)

  // A refused endpoint given on the command line: unhealthy, with an error.
  const port = await freePort()
  const refused = await cli(t, ['health', 'plain', '--url', `http://127.0.0.1:${port}/health`, '--json', '--dir', dir])
  assert.strictEqual(refused.code, 1, refused.stdout)
  const rh = JSON.parse(refused.stdout)
  assert.strictEqual(rh.endpoint.ok, false)
  assert.strictEqual(typeof rh.endpoint.error, 'string')

  // An endpoint that accepts and never answers: the timeout, not a hang.
  const sockets = new Set()
  const hang = net.createServer((c) => sockets.add(c)).listen(0, '127.0.0.1')
  await new Promise((res) => hang.on('listening', res))
  t.after(() => {
    for (const c of sockets) c.destroy()
    hang.close()
  })
  const slow = await cli(t, ['health', 'plain', '--url', `http://127.0.0.1:${hang.address().port}/health`, '--timeout', '300', '--dir', dir])
  assert.strictEqual(slow.code, 1, slow.stdout)
  assert.match(slow.stdout, /^ {2}✗ endpoint .*timed out after 300 ms/m)
  noStack(slow)

  svc.child.kill('SIGKILL')
  await new Promise((res) => (alive(svc.child) ? svc.child.on('exit', res) : res()))
  const gone = await cli(t, ['health', 'api', '--dir', dir])
  assert.strictEqual(gone.code, 3, gone.stdout + gone.stderr)
  noStack(gone)
  assert.match(gone.stdout + gone.stderr, /not running/)
})

test('colours on a TTY only, never with NO_COLOR', { skip: posixOnly('a pseudo-terminal from script(1)') }, async (t) => {
  const dir = tmpDir(t)
  await startService(t, { name: 'api', dir })
  const cmd = `${JSON.stringify(BIN)} health api --dir ${JSON.stringify(dir)}`
  const base = { ...process.env, TERM: 'xterm' }
  delete base.NO_COLOR
  // util-linux script(1) runs the CLI on a real pseudo-terminal.
  const tty = await runCmdEnv(t, 'script', ['-qefc', cmd, '/dev/null'], base)
  assert.strictEqual(tty.code, 0, tty.stdout)
  assert.ok(tty.stdout.includes(`${ESC}32m✓`), JSON.stringify(tty.stdout))
  const noColor = await runCmdEnv(t, 'script', ['-qefc', cmd, '/dev/null'], { ...base, NO_COLOR: '1' })
  assert.strictEqual(noColor.code, 0, noColor.stdout)
  assert.match(noColor.stdout, /✓ running/)
  assert.ok(!noColor.stdout.includes('\x1b'), JSON.stringify(noColor.stdout))
})

test('--watch prints a sample per interval and exits 0 on SIGINT', { skip: posixOnly('SIGINT to a child') }, async (t) => {
  const dir = tmpDir(t)
  await startService(t, { name: 'api', dir })
  for (const format of [[], ['--json']]) {
    const child = spawn(BIN, ['health', 'api', '--watch=150', ...format, '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    t.after(() => alive(child) && child.kill('SIGKILL'))
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d))
    const samples = () => out.split('\n\n').filter((s) => s.trim())
    await until(() => samples().length >= 3 || !alive(child), 'three samples')
    assert.ok(alive(child), `still watching: ${err}`)
    const exited = new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })))
    child.kill('SIGINT')
    const { code, signal } = await exited
    assert.strictEqual(signal, null, 'exits by itself, not killed by the signal')
    assert.strictEqual(code, 0, err)
    assert.ok(!out.includes('\x1b'), 'no escape codes off a TTY')
    assert.strictEqual(err, '')
    const done = samples().filter((s) => s.endsWith('\n') || s === samples().at(-1))
    if (format.length) {
      for (const s of done.slice(0, 2)) assert.strictEqual(JSON.parse(s).pid > 0, true)
    } else {
      for (const s of done.slice(0, 2)) assert.match(s, /Ctrl-C to stop\napi \(pid \d+\): healthy\n/)
    }
  }
})

test('--watch on a TTY redraws in place and still exits 0 on SIGINT', { skip: posixOnly('a pseudo-terminal from script(1)') }, async (t) => {
  const dir = tmpDir(t)
  await startService(t, { name: 'api', dir })
  // On a pseudo-terminal (script(1)); timeout(1) delivers the Ctrl-C (SIGINT) after 3 s.
  const cmd = `timeout --preserve-status -s INT 3 ${JSON.stringify(BIN)} health api --watch=100 --dir ${JSON.stringify(dir)}`
  const env = { ...process.env, TERM: 'xterm', NO_COLOR: '1' }
  const r = await runCmdEnv(t, 'script', ['-qefc', cmd, '/dev/null'], env)
  assert.strictEqual(r.code, 0, JSON.stringify(r.stdout))
  const frames = r.stdout.split('\x1b[H').slice(1)
  assert.ok(frames.length >= 2, `at least two redraws: ${JSON.stringify(r.stdout.slice(0, 400))}`)
  assert.ok(r.stdout.startsWith('\x1b[2J\x1b[H'), 'clears the screen once, then homes the cursor')
  for (const f of frames.slice(0, 2)) assert.match(f, /api \(pid \d+\): healthy/)
  assert.ok(!r.stdout.includes('\x1b[32m'), 'NO_COLOR: no colours even on a TTY')
})

test('works through npm exec / npx from the package root', { skip: posixOnly('spawns npm (npm.cmd on Windows)') }, async (t) => {
  const dir = tmpDir(t)
  const svc = await startService(t, { name: 'api', dir })
  // A fresh npm cache, as on a fresh machine: npx then installs this checkout as a file:
  // dependency and runs its `prepare`, which must not rebuild the addon (that took minutes).
  const env = { ...process.env, PID_GUARD_DIR: dir, npm_config_cache: tmpDir(t, 'pg-npm-cache-') }
  delete env.NO_COLOR
  const addon = fs.readdirSync(ROOT).filter((f) => /^pid-guard\..+\.node$/.test(f))
  assert.ok(addon.length > 0, 'the checkout has its built addon')
  const before = addon.map((f) => fs.statSync(path.join(ROOT, f)).mtimeMs)
  const r = await runCmdEnv(t, 'npm', ['exec', '--offline', '--', 'pid-guard', 'health', 'api', '--json'], env)
  assert.strictEqual(r.code, 0, r.stderr)
  assert.strictEqual(JSON.parse(r.stdout).pid, svc.pid)
  const missing = await runCmdEnv(t, 'npx', ['--no-install', 'pid-guard', 'health', 'nobody-here'], env)
  assert.strictEqual(missing.code, 3, missing.stdout + missing.stderr)
  noStack(missing)
  const usage = await runCmdEnv(t, 'npx', ['--no-install', 'pid-guard', 'health', '--json', '--prometheus'], env)
  assert.strictEqual(usage.code, 2)
  assert.match(usage.stderr, /cannot be used together/)
  assert.deepStrictEqual(addon.map((f) => fs.statSync(path.join(ROOT, f)).mtimeMs), before, 'npx did not rebuild the addon')
})

test('inside npm lifecycle scripts: prestart check and health honour exit codes and streams', { skip: posixOnly('spawns npm (npm.cmd on Windows)') }, async (t) => {
  const dir = tmpDir(t)
  const app = tmpDir(t, 'pg-app-')
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({
    name: 'app',
    version: '1.0.0',
    private: true,
    scripts: {
      prestart: 'pid-guard check api',
      start: 'node -e "console.log(\'app started\')"',
      health: 'pid-guard health api --json',
    },
  }))
  // pid-guard resolves the way an installed dependency does: node_modules/pid-guard + .bin link.
  fs.mkdirSync(path.join(app, 'node_modules', '.bin'), { recursive: true })
  fs.symlinkSync(ROOT, path.join(app, 'node_modules', 'pid-guard'), 'dir')
  fs.symlinkSync(path.join('..', 'pid-guard', 'bin', 'pid-guard'), path.join(app, 'node_modules', '.bin', 'pid-guard'))
  const env = { ...process.env, PID_GUARD_DIR: dir }
  delete env.NO_COLOR

  const free = await runCmdEnv(t, 'npm', ['start', '--silent'], env, app)
  assert.strictEqual(free.code, 0, free.stdout + free.stderr)
  assert.match(free.stdout, /app started/)

  const svc = await startService(t, { name: 'api', dir })
  const held = await runCmdEnv(t, 'npm', ['start', '--silent'], env, app)
  assert.notStrictEqual(held.code, 0, held.stdout)
  assert.ok(!held.stdout.includes('app started'), 'start did not run')
  assert.ok(held.stderr.includes(String(svc.pid)), `holder pid on stderr: ${held.stderr}`)
  assert.ok(!held.stdout.includes(String(svc.pid)), `not on stdout: ${held.stdout}`)

  const healthy = await runCmdEnv(t, 'npm', ['run', '--silent', 'health'], env, app)
  assert.strictEqual(healthy.code, 0, healthy.stderr)
  assert.strictEqual(JSON.parse(healthy.stdout).pid, svc.pid, 'stdout is exactly the JSON')

  svc.child.kill('SIGKILL')
  await new Promise((res) => (alive(svc.child) ? svc.child.on('exit', res) : res()))
  const gone = await runCmdEnv(t, 'npm', ['run', '--silent', 'health'], env, app)
  assert.strictEqual(gone.code, 3, gone.stdout + gone.stderr)
  noStack(gone)
})
