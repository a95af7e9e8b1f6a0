'use strict'
// Found by an outside attack: with /proc mounted hidepid=2 (a common hardening), another user's
// live process is absent from /proc, but it exists (kill(pid, 0) fails with EPERM). It must be
// "alive, figures unknown", never "not running": a liveness probe would restart a healthy service.
// Real: a private mount namespace (unshare --mount) with its own hidepid=2 /proc, a real second
// user (runuser -u nobody), a real process of root's.

const test = require('node:test')
const assert = require('node:assert')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { track, BIN } = require('./helpers')

const ROOT = path.join(__dirname, '..')

function skipReason() {
  if (process.platform !== 'linux') return 'hidepid is a Linux /proc mount option'
  if (process.getuid?.() !== 0) return 'needs root to mount /proc in a private namespace'
  const probe = spawnSync('unshare', ['--mount', '--fork', 'sh', '-c', 'mount -t proc -o hidepid=2 proc /proc'], { encoding: 'utf8' })
  if (probe.error || probe.status !== 0) return `cannot mount a hidepid /proc here: ${probe.stderr || probe.error?.message}`
  const read = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '-e', `require(${JSON.stringify(ROOT)})`], { encoding: 'utf8', cwd: '/' })
  if (read.status !== 0) return `the addon is not loadable by nobody here: ${read.stderr.split('\n')[0]}`
  return false
}
const skip = skipReason()

/** Runs `script` (sh) as nobody inside a mount namespace whose /proc hides other users' processes. */
function asNobodyHidden(script) {
  const inner = `mount -t proc -o hidepid=2 proc /proc && exec runuser -u nobody -- sh -c ${JSON.stringify(script)}`
  return spawnSync('unshare', ['--mount', '--fork', 'sh', '-c', inner], { encoding: 'utf8', cwd: '/', timeout: 15000 })
}

test("health of root's live process, seen by nobody through a hidepid /proc: alive, figures unknown", { skip }, (t) => {
  const victim = track(t, spawn('sleep', ['60'], { stdio: 'ignore' }))
  const code = `const pg=require(${JSON.stringify(ROOT)});process.stdout.write(JSON.stringify(pg.healthSync({pid:${victim.pid}})))`
  const r = asNobodyHidden(`${JSON.stringify(process.execPath)} -e ${JSON.stringify(code)}`)
  assert.equal(r.status, 0, r.stderr)
  const h = JSON.parse(r.stdout)
  assert.equal(h.alive, true, JSON.stringify(h))
  assert.equal(h.children, null, 'its children are hidden too: unknown, not 0')
  assert.equal(h.listening, null, 'its sockets are unknown, not []')
  assert.ok(!h.problems.some((p) => /not running/.test(p)), JSON.stringify(h.problems))
  // The CLI's verdict: unhealthy (1: figures unknown), never "not running" (3).
  const cli = asNobodyHidden(`${JSON.stringify(BIN)} health --pid ${victim.pid}`)
  assert.equal(cli.status, 1, cli.stdout + cli.stderr)
  assert.doesNotMatch(cli.stdout + cli.stderr, /not running/)
  assert.equal(victim.exitCode, null, 'nothing signalled it')
})
