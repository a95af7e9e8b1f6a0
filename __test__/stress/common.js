'use strict'
// Shared by the stress suites: sizes (STRESS=full for the issue's sizes), a line protocol over a
// child's stdin/stdout, and the witness-log checker. Not a test file (no .test.js suffix).

const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const h = require('../helpers')
const { eachLine, parse: parseLine } = require('../fixtures/lines')

const FULL = process.env.STRESS === 'full'
/** Default size for `npm test` (scaled down under Wine by h.scaled), or the full size under STRESS=full. */
const size = (dflt, full) => (FULL ? full : h.scaled(dflt))
const FIXTURES = path.join(__dirname, '..', 'fixtures')

/** Starts a fixture with a JSON argument; `next(pred)` waits for a JSON line; `send(line)`. */
function startFixture(t, file, arg, { nodeArgs = [], env = {}, label = file } = {}) {
  const child = h.track(
    t,
    spawn(process.execPath, [...nodeArgs, path.join(FIXTURES, file), JSON.stringify(arg)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PID_GUARD_LOG: '', ...env },
    }),
  )
  const r = h.lineReader(child, `${label} ${child.pid}`)
  return { child, pid: child.pid, ...r, send: (line) => child.stdin.write(line + '\n') }
}

/**
 * Starts a fixture whose stdout lines are consumed in order: `take()` resolves with the next JSON
 * line (rejects if the child exits first, or after `timeout` ms). O(1) per line, for long runs.
 */
function startQueued(t, file, arg, { nodeArgs = [], env = {}, timeout = 20000 } = {}) {
  const child = h.track(
    t,
    spawn(process.execPath, [...nodeArgs, path.join(FIXTURES, file), JSON.stringify(arg)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PID_GUARD_LOG: '', ...env },
    }),
  )
  const queue = []
  const waiters = []
  let stderr = ''
  let exit = null
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  eachLine(child.stdout, (raw) => {
    const msg = parseLine(raw)
    const w = waiters.shift()
    if (w) w.resolve(msg)
    else queue.push(msg)
  })
  const exited = new Promise((resolve) => child.on('close', (code, signal) => {
    exit = { code, signal }
    for (const w of waiters.splice(0)) w.reject(new Error(`${file} ${child.pid} exited (${code ?? signal}) before the expected line; stderr: ${stderr}`))
    resolve(exit)
  }))
  function take() {
    if (queue.length) return Promise.resolve(queue.shift())
    if (exit) return Promise.reject(new Error(`${file} ${child.pid} exited (${exit.code ?? exit.signal}); stderr: ${stderr}`))
    return new Promise((resolve, reject) => {
      const w = { resolve: (m) => (clearTimeout(timer), resolve(m)), reject: (e) => (clearTimeout(timer), reject(e)) }
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1)
        reject(new Error(`${file} ${child.pid}: no line within ${timeout} ms; stderr: ${stderr}`))
      }, timeout)
      waiters.push(w)
    })
  }
  return { child, pid: child.pid, take, exited, send: (line) => child.stdin.write(line + '\n'), stderr: () => stderr }
}

/**
 * Checks an enter/leave witness log. Lines: `enter <pid> <round> <mode>` / `leave <pid> <round> <mode>`.
 * Exclusive: nobody else inside. Shared: no exclusive holder inside. Returns counts and violations.
 */
function checkWitness(text) {
  const inside = new Map() // pid -> mode
  const violations = []
  let enters = 0
  let leaves = 0
  let maxShared = 0
  const lines = text.split('\n').filter(Boolean)
  lines.forEach((line, i) => {
    const [ev, pid, round, mode] = line.split(' ')
    if (ev === 'enter') {
      enters++
      if (inside.has(pid)) violations.push(`line ${i + 1}: ${pid} entered twice`)
      const others = [...inside.entries()]
      if (mode === 'exclusive' && others.length) violations.push(`line ${i + 1}: exclusive ${pid} (round ${round}) entered while ${others.map(([p, m]) => `${m} ${p}`).join(', ')} inside`)
      if (mode === 'shared' && others.some(([, m]) => m === 'exclusive')) violations.push(`line ${i + 1}: shared ${pid} (round ${round}) entered while an exclusive holder was inside`)
      inside.set(pid, mode)
      maxShared = Math.max(maxShared, [...inside.values()].filter((m) => m === 'shared').length)
    } else if (ev === 'leave') {
      leaves++
      if (inside.get(pid) !== mode) violations.push(`line ${i + 1}: ${pid} left without entering`)
      inside.delete(pid)
    } else {
      violations.push(`line ${i + 1}: unreadable ${JSON.stringify(line)}`)
    }
  })
  if (inside.size) violations.push(`still inside at the end: ${[...inside.keys()].join(', ')}`)
  return { lines: lines.length, enters, leaves, maxShared, violations }
}

/** Open fds of a pid (from /proc). */
function fdCount(pid = process.pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length
}

/** Files in a directory, recursively, relative names sorted. */
function tree(dir) {
  const out = []
  const walk = (d, rel) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name
      out.push(r)
      if (e.isDirectory()) walk(path.join(d, e.name), r)
    }
  }
  walk(dir, '')
  return out.sort()
}

module.exports = { FULL, size, FIXTURES, startFixture, startQueued, checkWitness, fdCount, tree }
