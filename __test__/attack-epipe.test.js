'use strict'
// Issue 10, item 11: `pid-guard list --json | head -c1`. A reader that closes the pipe early
// must not get an EPIPE stack trace on stderr: the CLI stops writing and exits with its own code.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const h = require('./helpers')

/** Runs the native command with stdout a pipe that is closed after the first byte arrives. */
function cliClosingAfterOneByte(t, args, env = {}) {
  const child = h.track(t, spawn(h.BIN, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PID_GUARD_LOG: '', ...env },
  }))
  let stderr = ''
  let got = 0
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  child.stdout.once('data', (d) => {
    got = d.length
    child.stdout.destroy() // like `head -c1`: read a byte, close the pipe
  })
  return h.withDeadline(
    new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr, got }))),
    h.DEADLINE ?? 15000,
    `pid-guard ${args.join(' ')} did not exit`,
  )
}

test('list/status/health --json into a pipe closed after one byte: no stack, own exit code', async (t) => {
  const dir = h.tmpDir(t)
  // Enough guards that every output is far larger than a pipe buffer (64 KiB; health prints
  // ~350 bytes a guard), so the CLI is still writing when the reader goes away. One process
  // holds them all.
  const holder = h.track(t, spawn(process.execPath, ['-e', `
    const pg = require(${JSON.stringify(h.ROOT)})
    const big = 'x'.repeat(1000)
    const held = []
    for (let i = 0; i < 250; i++) held.push(pg.acquire('g' + i, { dir: ${JSON.stringify(dir)}, meta: { big, i } }))
    console.log('ready')
    process.stdin.on('end', () => held.forEach((g) => g.release())).resume()`], { stdio: ['pipe', 'pipe', 'inherit'] }))
  await new Promise((resolve, reject) => {
    holder.stdout.once('data', resolve)
    holder.once('exit', (code) => reject(new Error(`the holder exited (${code}) before holding the guards`)))
  })
  t.after(() => holder.stdin.end())
  const cases = [
    [['list', '--json', '--dir', dir], 0],
    [['status', '--json', '--dir', dir], 0],
    [['health', '--json', '--dir', dir], null],
  ]
  for (const [args, want] of cases) {
    for (let trial = 0; trial < 5; trial++) {
      const r = await cliClosingAfterOneByte(t, args)
      assert.ok(r.got > 0, `${args[0]}: wrote nothing`)
      assert.doesNotMatch(r.stderr, /EPIPE|Error|at /, `${args[0]} --json: stderr ${r.stderr}`)
      assert.equal(r.signal, null, `${args[0]}: killed by ${r.signal}`)
      if (want !== null) assert.equal(r.code, want, `${args[0]}: exit ${r.code}`)
      else assert.ok([0, 1].includes(r.code), `${args[0]}: exit ${r.code}`)
    }
  }
})

test('health --watch into a pipe closed after one byte ends, quietly', async (t) => {
  const dir = h.tmpDir(t)
  await h.hold(t, { name: 'w', dir })
  for (let trial = 0; trial < 3; trial++) {
    const r = await cliClosingAfterOneByte(t, ['health', 'w', '--dir', dir, '--watch=50'])
    assert.equal(r.stderr, '', `stderr: ${r.stderr}`)
    assert.equal(r.signal, null)
    assert.equal(r.code, 0)
  }
})
