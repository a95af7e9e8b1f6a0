'use strict'
// Issue 10, items 1 and 2: files planted at guard paths by someone else. FIFOs and directories
// never hang or break anything; symlinks and foreign directories at N.shared are never
// followed, and nothing behind them is deleted. Every check runs in a child with a deadline,
// so a hang fails the test instead of hanging the suite.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const h = require('./helpers')

const ROOT = JSON.stringify(path.join(__dirname, '..'))

function probe(dir, body) {
  return `
    const pg = require(${ROOT})
    const dir = ${JSON.stringify(dir)}
    const out = {}
    const tryIt = (k, fn) => { try { out[k] = fn() } catch (e) { out[k] = { code: e.code, message: e.message } } }
    ${body}
    process.stdout.write(JSON.stringify(out))
  `
}

for (const kind of ['fifo', 'dir']) {
  test(`a ${kind} at N.pid and N.lock: status, acquire and list answer at once, and list still shows the other guards`, { skip: kind === 'fifo' && h.posixOnly('mkfifo') }, async (t) => {
    const dir = h.tmpDir(t)
    for (const f of ['p.pid', 'l.lock']) {
      const p = path.join(dir, f)
      if (kind === 'fifo') execFileSync('mkfifo', [p])
      else fs.mkdirSync(p)
    }
    const r = await h.node(
      t,
      probe(
        dir,
        `
        const good = pg.acquire('good', { dir })
        tryIt('statusP', () => pg.status('p', { dir }).state)
        tryIt('statusL', () => pg.status('l', { dir }).state)
        tryIt('acquireP', () => { pg.acquire('p', { dir }).release(); return 'acquired' })
        tryIt('acquireL', () => { pg.acquire('l', { dir }).release(); return 'acquired' })
        tryIt('list', () => pg.list({ dir }).map((s) => s.name + ':' + s.state))
        good.release()
      `,
      ),
      { timeout: 10000 },
    )
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    for (const k of ['statusL', 'acquireL', 'acquireP']) {
      assert.equal(out[k].code, 'EUNSAFEFILE', `${k}: ${JSON.stringify(out[k])}`)
      assert.match(out[k].message, /not a regular file/)
    }
    assert.ok(Array.isArray(out.list), JSON.stringify(out.list))
    assert.ok(out.list.includes('good:held'), JSON.stringify(out.list))
    // The planted entries are still there, untouched.
    for (const f of ['p.pid', 'l.lock']) {
      const st = fs.lstatSync(path.join(dir, f))
      assert.ok(kind === 'fifo' ? st.isFIFO() : st.isDirectory())
    }
  })
}

test('health of all guards (CLI) survives a FIFO and a directory among them', { skip: h.posixOnly('mkfifo') }, async (t) => {
  const dir = h.tmpDir(t)
  execFileSync('mkfifo', [path.join(dir, 'f.lock')])
  fs.mkdirSync(path.join(dir, 'd.lock'))
  const r = await h.cli(t, ['list', '--json', '--dir', dir], { timeout: 10000 })
  assert.notEqual(r.signal, 'SIGKILL')
  assert.ok(r.code === 0 || r.code === 1, `${r.code} ${r.stderr}`)
})
