'use strict'
// A port recorded as a string (`pid-guard run web --meta port=8080`, or meta built from the
// environment) is the same port everywhere: health checks it, and `stop --port` finds the guard
// that recorded it (before, only a number was read there: "no guard recorded it for this port").

const test = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { stop, status, healthSync } = require('..')
const h = require('./helpers')

const LISTEN = path.join(__dirname, 'fixtures', 'listen-on.js')
const portsUnknown = !['linux', 'darwin'].includes(process.platform) && 'port owners are read on Linux and macOS only'

/** A port the OS just gave out and took back: free for the moment. */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}

test('meta.port recorded as a string: health checks it and stop({ port }) finds its guard', { skip: portsUnknown }, async (t) => {
  const dir = h.tmpDir(t)
  const port = await freePort()
  const run = h.track(t, spawn(h.BIN, ['run', 'web', '--dir', dir, '--meta', `port=${port}`, '--', process.execPath, LISTEN, String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }))
  const r = h.lineReader(run, 'run web')
  const ready = await r.next((m) => m.ready)
  assert.equal(ready.ready, run.pid, 'run execs the command (tracked: killed after the test)')
  assert.equal(status('web', { dir }).holders[0].meta.port, String(port), 'recorded as a string')
  const hl = healthSync('web', { dir })
  assert.equal(hl.port?.number, port, JSON.stringify(hl.port))
  assert.equal(hl.port?.listening, true)
  const report = await stop({ port }, { dir, timeoutMs: 10000 }).catch((e) => e)
  assert.equal(report.ok, true, JSON.stringify(report))
  assert.equal(report.stopped[0].pid, ready.ready)
  await h.waitExit({ exited: r.exited, pid: run.pid })
})
