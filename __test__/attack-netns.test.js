'use strict'
// Found by an outside attack: a guarded server in its own network namespace (a container with
// its own netns) listens on 127.0.0.1:P there. Health from the host read the host's socket table
// only and said `listening: []` and "nothing listens on port P": none, where the truth is unknown
// from here. Real: unshare --net, a real server, health from outside it.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const h = require('./helpers')

const ROOT = path.join(__dirname, '..')
const skip = process.platform !== 'linux' ? 'network namespaces are Linux'
  : process.getuid?.() !== 0 ? 'needs root for unshare --net'
  : spawnSync('unshare', ['--net', 'true']).status !== 0 ? 'unshare --net is not permitted here' : false

test('a server in another network namespace: its sockets and its port are unknown from here, never "nothing listens"', { skip }, async (t) => {
  const dir = h.tmpDir(t)
  const port = 40000 + (process.pid % 20000)
  const code = `const pg=require(${JSON.stringify(ROOT)});require('http').createServer((q,r)=>r.end('{}')).listen(${port},'127.0.0.1',()=>{const g=pg.acquire('n',{dir:${JSON.stringify(dir)},meta:{port:${port}}});console.log(JSON.stringify({ready:g.pid}))});setInterval(()=>{},1000)`
  // ip(8) may be missing: lo can stay down, 127.0.0.1 binds on it either way.
  const child = h.track(t, spawn('unshare', ['--net', '--', process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] }))
  const r = h.lineReader(child, 'netns server')
  const { ready } = await r.next((m) => m.ready)
  const { healthSync } = require('..')
  const hl = healthSync('n', { dir })
  assert.equal(hl.pid, ready)
  assert.equal(hl.alive, true)
  assert.equal(hl.listening, null, JSON.stringify(hl))
  assert.equal(hl.port.listening, null, JSON.stringify(hl.port))
  assert.ok(!hl.problems.some((p) => /nothing listens/.test(p)), JSON.stringify(hl.problems))
  assert.ok(hl.problems.some((p) => /network namespace/.test(p)), JSON.stringify(hl.problems))
  assert.equal(hl.healthy, false, 'unknown is not healthy')
})
