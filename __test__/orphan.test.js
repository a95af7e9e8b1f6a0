'use strict'
// Port owners of a stale guard that carry no marker of its holder: nothing proves the holder
// started them, so they are reported (portOwner, matchesRecord) and never stopped without force,
// even with the recorded command line (issue 13 changed this: a command line proves nothing; a
// real orphan carries the holder's marker, see orphan-marker.test.js).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { acquire, status, stop, PidGuardError } = require('..')
const h = require('./helpers')

const SERVER = path.join(__dirname, 'fixtures', 'orphan-server.js')
/** Port owners are read from the kernel on Linux (netlink) and macOS (libproc) only. */
const portsUnknown = h.wineGap('noOwner') || (!['linux', 'darwin', 'win32'].includes(process.platform) && 'port owners are read on Linux, macOS and Windows only')

/** Starts the fixture server; resolves with { child, pid, port }. */
function startServer(t, extraArg) {
  const args = extraArg ? [SERVER, extraArg] : [SERVER]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
  t.after(() => child.kill('SIGKILL'))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not start in 15 s')), 15000)
    child.stdout.once('data', (d) => {
      clearTimeout(timer)
      resolve({ child, ...JSON.parse(String(d)) })
    })
    child.once('exit', (code) => reject(new Error(`server exited early (${code})`)))
  })
}

/** Plants the files a holder of `name` that recorded `server`'s command and port would leave. */
function plantRecord(dir, name, server, cmdline) {
  // Take the guard once to get a well-formed record, then rewrite it as the server's.
  const g = acquire(name, { dir, meta: { port: server.port }, cleanup: false })
  const rec = JSON.parse(fs.readFileSync(g.recordPath, 'utf8'))
  g.release()
  rec.pid = server.pid
  // What the kernel names as the server's executable (macOS: proc_pidpath, a resolved path).
  rec.exe = process.platform === 'linux' ? fs.readlinkSync(`/proc/${server.pid}/exe`) : fs.realpathSync(process.execPath)
  rec.cmdline = cmdline
  fs.writeFileSync(path.join(dir, `${name}.lock`), JSON.stringify(rec))
  fs.writeFileSync(path.join(dir, `${name}.pid`), `${server.pid}\n`)
}

const exited = (child) => new Promise((r) => (child.exitCode !== null || child.signalCode ? r() : child.once('exit', r)))

test('a server on the recorded port with the recorded command line but no marker is stale, not orphaned, and never stopped, even with force', { skip: portsUnknown }, async (t) => {
  const dir = h.tmpDir(t)
  const server = await startServer(t)
  plantRecord(dir, 'web', server, [process.execPath, SERVER])
  const st = status('web', { dir })
  assert.equal(st.state, 'stale', JSON.stringify(st))
  assert.deepEqual(st.orphans, [])
  assert.equal(st.holders[0].pid, server.pid)
  assert.equal(st.portOwner.port, server.port)
  assert.equal(st.portOwner.matchesRecord, true)
  await assert.rejects(stop('web', { dir }), (e) => e.code === 'ENOTVERIFIED' && /no orphan marker/.test(e.message))
  assert.equal(h.isRunning(server.pid), true, 'a look-alike is not signalled')
  // force means only "SIGKILL after the timeout": it never widens who is signalled.
  await assert.rejects(stop('web', { dir, force: true, timeoutMs: 1000 }), (e) => e.code === 'ENOTVERIFIED' && e.message.includes(`kill ${server.pid}`))
  assert.equal(h.isRunning(server.pid), true, 'not signalled with force either')
})

test('a port owner that does not match the record is reported, not stopped, with or without force', { skip: portsUnknown }, async (t) => {
  const dir = h.tmpDir(t)
  const server = await startServer(t)
  plantRecord(dir, 'web', server, [process.execPath, '/srv/other-app/server.js'])
  const st = status('web', { dir })
  assert.equal(st.state, 'stale')
  assert.equal(st.portOwner.pid, server.pid)
  assert.equal(st.portOwner.matchesRecord, false)
  await assert.rejects(stop('web', { dir }), (e) => {
    assert.ok(e instanceof PidGuardError)
    assert.equal(e.code, 'ENOTVERIFIED')
    assert.match(e.message, new RegExp(`pid ${server.pid}`), 'says what was found instead')
    assert.match(e.message, /orphan-server\.js/)
    return true
  })
  assert.equal(h.isRunning(server.pid), true, 'the mismatching owner was not signalled')
  await assert.rejects(stop('web', { dir, force: true, timeoutMs: 1000 }), (e) => e.code === 'ENOTVERIFIED')
  assert.equal(h.isRunning(server.pid), true, 'nor with force')
})

test('stop({ port }) refuses an owner no guard proves (no marker), even one a planted record names, even with force', { skip: portsUnknown }, async (t) => {
  const dir = h.tmpDir(t)
  const server = await startServer(t)
  await assert.rejects(stop({ port: server.port }, { dir }), (e) => e.code === 'ENOTVERIFIED' && e.message.includes(String(server.port)))
  assert.equal(h.isRunning(server.pid), true)
  plantRecord(dir, 'api', server, [process.execPath, SERVER])
  await assert.rejects(stop({ port: server.port }, { dir }), (e) => e.code === 'ENOTVERIFIED')
  assert.equal(h.isRunning(server.pid), true)
  await assert.rejects(stop({ port: server.port }, { dir, force: true, timeoutMs: 1000 }), (e) => e.code === 'ENOTVERIFIED')
  assert.equal(h.isRunning(server.pid), true, 'nor with force')
  server.child.kill()
  await exited(server.child)
  await assert.rejects(stop({ port: server.port }, { dir }), (e) => e.code === 'ENOTFOUND')
})
