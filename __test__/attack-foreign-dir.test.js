'use strict'
// Found by an outside attack: a service running as another user holds its guard in its own 0700
// directory (/run/web owned by the service user). Root's status, check and health refused the
// directory with EUNSAFEDIR "... or remove it": advice to delete the live holder's directory, and
// the guard was never reported held. Reading needs no trust in who may write there: it is held.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const h = require('./helpers')

const ROOT = path.join(__dirname, '..')

function skipReason() {
  if (process.platform === 'win32') return 'POSIX users and modes'
  if (process.getuid?.() !== 0) return 'needs root to run a holder as nobody'
  const r = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '-e', `require(${JSON.stringify(ROOT)})`], { encoding: 'utf8', cwd: '/' })
  if (r.error || r.status !== 0) return `the addon is not loadable by nobody here: ${(r.stderr || r.error?.message || '').split('\n')[0]}`
  return false
}
const skip = skipReason()

test("root inspects another user's live guard in that user's own directory: held, never 'remove it'", { skip }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-foreign-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.chmodSync(dir, 0o700)
  fs.chownSync(dir, 65534, 65534)
  const code = `const g=require(${JSON.stringify(ROOT)}).acquire('web',{dir:${JSON.stringify(dir)}});console.log(JSON.stringify({ready:g.pid}));setInterval(()=>{},1000)`
  const holder = h.track(t, spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'pipe'], cwd: '/' }))
  const r = h.lineReader(holder, 'nobody holder')
  const { ready } = await r.next((m) => m.ready)

  const { status, healthSync, acquire } = require('..')
  const st = status('web', { dir })
  assert.equal(st.state, 'held')
  assert.equal(st.holders[0].pid, ready)
  assert.equal(healthSync('web', { dir }).alive, true)
  for (const cmd of ['status', 'check', 'health', 'list']) {
    const out = await h.cli(t, [cmd, ...(cmd === 'list' ? [] : ['web']), '--dir', dir])
    const text = out.stdout + out.stderr
    assert.doesNotMatch(text, /remove it/i, `${cmd}: ${text}`)
    assert.ok(text.includes(String(ready)), `${cmd} names the holder: ${text}`)
    if (cmd === 'check') assert.equal(out.code, 1, text)
  }
  // Writing there stays refused, with no advice to remove anything.
  assert.throws(() => acquire('web', { dir }), (e) => ['ELOCKED', 'EUNSAFEDIR'].includes(e.code) && !/remove it/i.test(e.message))
  assert.equal(h.isRunning(ready), true, 'nothing signalled the holder')
})
