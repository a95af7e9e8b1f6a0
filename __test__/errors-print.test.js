'use strict'
// How pid-guard's errors and guards read when nobody formats them: an uncaught ELOCKED prints
// the message and the caller's stack (no holder dump, no source frame from inside pid-guard), and
// console.log(guard) shows what the guard is. Real child processes, real output.

const { test } = require('node:test')
const assert = require('node:assert')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { tmpDir, ROOT } = require('./helpers')

const PKG = JSON.stringify(ROOT)

function node(t, source, dir) {
  const file = path.join(dir, 'app.js')
  require('node:fs').writeFileSync(file, source)
  const r = spawnSync(process.execPath, [file], { cwd: dir, encoding: 'utf8', timeout: 15000, env: { ...process.env, NO_COLOR: '1' } })
  assert.ifError(r.error)
  return { ...r, file }
}

test('an uncaught ELOCKED prints the message and a stack starting at the caller', (t) => {
  const dir = tmpDir(t)
  const r = node(t, `const pg = require(${PKG})
const first = pg.acquire('svc', { dir: ${JSON.stringify(dir)}, meta: { port: 8080, secret: 'x'.repeat(20) } })
pg.acquire('svc', { dir: ${JSON.stringify(dir)} })
`, dir)
  assert.strictEqual(r.status, 1)
  const err = r.stderr
  assert.match(err, /^PidGuardError: pid-guard: "svc" is already running/, err)
  const frames = err.split('\n').filter((l) => /^\s+at /.test(l))
  assert.ok(frames[0].includes(`${r.file}:3:`), `first frame is the caller's acquire line: ${frames[0]}`)
  assert.ok(!err.includes(path.join(ROOT, 'lib')), `no frame or source line from pid-guard's own files:\n${err}`)
  assert.ok(!err.includes('x'.repeat(20)), 'the holder record is not dumped')
  assert.match(err, /code: 'ELOCKED'/)
  assert.ok(err.split('\n').length <= 16, `short (${err.split('\n').length} lines):\n${err}`)
})

test('holder and holders stay available on a caught ELOCKED, without being enumerable', (t) => {
  const dir = tmpDir(t)
  const r = node(t, `const pg = require(${PKG})
const first = pg.acquire('svc', { dir: ${JSON.stringify(dir)}, meta: { port: 8080 } })
try { pg.acquire('svc', { dir: ${JSON.stringify(dir)} }) } catch (e) {
  console.log(JSON.stringify({ instance: e instanceof pg.PidGuardError, code: e.code, pid: e.holder.pid, n: e.holders.length,
    port: e.holder.meta.port, keys: Object.keys(e) }))
}
`, dir)
  assert.strictEqual(r.status, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  assert.deepStrictEqual(out, { instance: true, code: 'ELOCKED', pid: out.pid, n: 1, port: 8080, keys: out.keys })
  assert.ok(out.pid > 0)
  assert.ok(!out.keys.includes('holder') && !out.keys.includes('holders'), JSON.stringify(out.keys))
})

test('console.log(guard) shows its name, pid, mode and paths', (t) => {
  const dir = tmpDir(t)
  const r = node(t, `const pg = require(${PKG})
const g = pg.acquire('svc', { dir: ${JSON.stringify(dir)} })
console.log(g)
g.release()
console.log(g)
`, dir)
  assert.strictEqual(r.status, 0, r.stderr)
  const [held, released] = r.stdout.split(/\n(?=Guard )/)
  assert.match(held, /^Guard \{/)
  assert.match(held, /name: 'svc'/)
  assert.match(held, new RegExp(`pid: ${r.pid ?? '\\d+'}`))
  assert.match(held, /mode: 'exclusive'/)
  // As util.inspect quotes them: a Windows path's backslashes are doubled.
  const shown = (p) => p.replaceAll('\\', '\\\\')
  assert.ok(held.includes(shown(path.join(dir, 'svc.pid'))), held)
  assert.ok(held.includes(shown(path.join(dir, 'svc.lock'))), held)
  assert.match(held, /released: false/)
  assert.match(released, /released: true/)
})
