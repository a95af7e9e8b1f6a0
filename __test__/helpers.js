'use strict'
// Shared helpers for the multi-process tests: fresh temp dirs, the holder fixture, waiting for
// a child's JSON lines or exit with a deadline, and process liveness from /proc.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { eachLine, parse: parseLine } = require('./fixtures/lines')

const ROOT = path.join(__dirname, '..')
const HOLDER = path.join(__dirname, 'fixtures', 'holder.js')
// The launcher (`node bin/pid-guard`): what runs where install scripts did not swap in the binary.
const CLI = path.join(ROOT, 'bin', 'pid-guard')
/**
 * The native command under test: PID_GUARD_BIN, else the one scripts/build-cli.js put in this
 * machine's platform package folder (npm/<platform>/pid-guard).
 */
const BIN = process.env.PID_GUARD_BIN || path.join(ROOT, 'npm', require('../lib/platform').platformId(), require('../lib/platform').BIN_NAME)
// Generous: the suite shares 2 cores with builds; under Wine a node.exe takes 0.5-1.5 s to start.
const DEADLINE = process.platform === 'win32' && process.env.PID_GUARD_WINE === '1' ? 45000 : 15000

const WIN = process.platform === 'win32'
const WINE = WIN && process.env.PID_GUARD_WINE === '1' // set by scripts/test-windows.js

/**
 * The one place a test says it needs POSIX: `test(name, { skip: h.posixOnly('reads /proc') }, ...)`.
 * On Windows it returns the skip reason (signals, modes, /proc, sh, python3, runuser, unshare,
 * flock(1) have no Windows form); elsewhere false, so the test runs.
 */
function posixOnly(why) {
  return WIN ? `POSIX only: ${why}` : false
}

/** Like posixOnly, for what only Linux has (/proc, namespaces, inotify, runuser). */
function linuxOnly(why) {
  return process.platform !== 'linux' ? `Linux only: ${why}` : false
}

/**
 * Wine's own gaps, each measured here (not Windows' behaviour): a test that meets one names it
 * and is skipped only under Wine, so a native Windows run still runs it.
 */
const WINE_GAPS = {
  symlink: 'CreateSymbolicLinkW succeeds and creates nothing',
  deletePending: 'a removed file another process has open stays under its name, delete-pending',
  appends: 'concurrent appends to one file can be lost',
  noOwner: "GetExtendedTcpTable names no socket's owning process (pid 0)",
  linuxSpawn: 'a Linux program (sh, python3, flock) cannot be spawned from the Windows node.exe',
  // Measured: a child spinning at 40 % by its own process.cpuUsage() (GetProcessTimes on itself)
  // reads 2 % through GetProcessTimes from another process.
  otherCpu: "GetProcessTimes of another process reports a small fraction of the CPU it used",
}

/**
 * The one knob for loop sizes under Wine: every process start there costs 0.5-1.5 s and each
 * lock call about 10x its native time, so stress loops sized for a native run would take the
 * whole suite past its 15-minute target. `h.scaled(n)` is n natively and n * PID_GUARD_WINE_SCALE
 * (default 0.2, at least 1) under Wine: the same scenarios run, fewer times.
 */
const WINE_SCALE = WINE ? Number(process.env.PID_GUARD_WINE_SCALE || 0.2) : 1
function scaled(n) {
  return Math.max(1, Math.round(n * WINE_SCALE))
}

function wineGap(gap) {
  if (!(gap in WINE_GAPS)) throw new Error(`unknown Wine gap ${gap}`)
  return WINE ? `Wine gap: ${WINE_GAPS[gap]}` : false
}

/**
 * Whether a child's exit ({ code, signal }) is death by `signal`: on POSIX the signal itself; on
 * Windows, where a process ends another (pid-guard's stop and takeover, or itself) with
 * TerminateProcess(pid, 1), exit code 1 (Node reports the signal only for its own child.kill()).
 */
function diedOf(exit, signal) {
  return exit.signal === signal || (WIN && exit.code === 1 && exit.signal === null)
}

/** A fresh temp directory, mode 0700, removed after the test. */
function tmpDir(t, prefix = 'pg-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  fs.chmodSync(dir, 0o700)
  t.after(() => {
    try {
      fs.rmSync(dir, { recursive: true, force: true })
    } catch (e) {
      // Wine's gap: a file a just-exited process had open lingers delete-pending, so the
      // directory is not empty yet. Left in the temp dir; only under Wine.
      if (!(WINE && (e.code === 'ENOTEMPTY' || e.code === 'EBUSY' || e.code === 'EPERM'))) throw e
    }
  })
  return dir
}

/** Every child we start is killed after the test unless it already exited. */
function track(t, child) {
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL')
      } catch {}
    }
  })
  return child
}

/** Collects a child's stdout as JSON lines; `next(pred)` waits for a matching line. */
function lineReader(child, label) {
  const lines = []
  const waiters = []
  let stderr = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (d) => (stderr += d))
  eachLine(child.stdout, (raw) => {
    lines.push(parseLine(raw))
    for (const w of [...waiters]) w.check()
  })
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  exited.then(() => setImmediate(() => waiters.forEach((w) => w.fail())))

  function next(pred, timeout = DEADLINE) {
    return new Promise((resolve, reject) => {
      let from = 0
      const w = {
        check() {
          for (; from < lines.length; from++) {
            if (pred(lines[from])) {
              done()
              return resolve(lines[from])
            }
          }
        },
        fail() {
          w.check()
          done()
          reject(new Error(`${label}: exited before the expected line; stdout: ${JSON.stringify(lines)} stderr: ${stderr}`))
        },
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${label}: no expected line within ${timeout} ms; stdout: ${JSON.stringify(lines)} stderr: ${stderr}`))
      }, timeout)
      function done() {
        clearTimeout(timer)
        const k = waiters.indexOf(w)
        if (k >= 0) waiters.splice(k, 1)
      }
      waiters.push(w)
      w.check()
    })
  }
  return { lines, next, exited, stderr: () => stderr }
}

/**
 * Starts the holder fixture. Returns { child, pid, ready, msg, next, exited, send, stderr }.
 * `ready` resolves with the first line (a ready line or an error line).
 */
function startHolder(t, opts, { env = {}, nodeArgs = [], label = 'holder' } = {}) {
  const child = track(
    t,
    spawn(process.execPath, [...nodeArgs, HOLDER, JSON.stringify(opts)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PID_GUARD_LOG: '', ...env },
    }),
  )
  const r = lineReader(child, `${label} ${child.pid}`)
  return {
    child,
    pid: child.pid,
    ...r,
    ready: r.next((m) => m.ready || m.error),
    send: (line) => child.stdin.write(line + '\n'),
  }
}

/** Starts the holder and waits until it holds the guard (fails the test otherwise). */
async function hold(t, opts, more) {
  const h = startHolder(t, opts, more)
  const msg = await h.ready
  if (!msg.ready) throw new Error(`holder failed to acquire: ${JSON.stringify(msg)}`)
  h.msg = msg
  return h
}

/** Waits for a child's exit with a deadline. */
function waitExit(h, timeout = DEADLINE) {
  return withDeadline(h.exited, timeout, `process ${h.pid} did not exit`)
}

function withDeadline(promise, timeout, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${timeout} ms`)), timeout)
    }),
  ]).finally(() => clearTimeout(timer))
}

/** Runs a node script to completion: { code, signal, stdout, stderr }. */
function run(t, args, { nodeArgs = [], ...opts } = {}) {
  return runFile(t, process.execPath, [...nodeArgs, ...args], opts)
}

/** Runs a program to completion: { code, signal, stdout, stderr, pid }. */
function runFile(t, file, args, { env = {}, input, timeout = DEADLINE, cwd } = {}) {
  const child = track(
    t,
    spawn(file, args, {
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PID_GUARD_LOG: '', ...env },
    }),
  )
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
  // A program that exits without reading stdin (the native command takes microseconds) closes
  // the pipe before this write: EPIPE there is not the test's failure.
  child.stdin.on('error', (e) => {
    if (e.code !== 'EPIPE') throw e
  })
  child.stdin.end(input ?? '')
  const done = new Promise((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, pid: child.pid })),
  )
  return withDeadline(done, timeout, `${path.basename(file)} ${args.join(' ')} did not finish`)
}

/** Runs the native command: { code, signal, stdout, stderr, pid }. */
function cli(t, args, opts) {
  return runFile(t, BIN, args, opts)
}

/** Runs a snippet in a fresh node process (CommonJS). */
function node(t, code, opts = {}) {
  return run(t, ['-e', code], opts)
}

/** A process exists and is not a zombie (read from /proc, ps(1) on macOS; never signals). */
function isRunning(pid) {
  if (process.platform === 'darwin') {
    // No /proc: ps prints the state (Z for a zombie) or nothing for no such process.
    const r = require('node:child_process').spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' })
    const state = (r.stdout ?? '').trim()
    return state !== '' && !state.startsWith('Z')
  }
  if (WIN) {
    // No /proc: signal 0 only asks whether the process exists (OpenProcess), it sends nothing.
    try {
      process.kill(pid, 0)
      return true
    } catch (e) {
      return e.code === 'EPERM'
    }
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
    return state !== 'Z' && state !== 'X'
  } catch {
    return false
  }
}

/** The signals a process has pending, blocked, ignored and caught, from /proc/PID/status. */
function signalMasks(pid) {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const get = (k) => text.match(new RegExp(`^${k}:\\s*([0-9a-f]+)`, 'm'))?.[1]
  return { pending: get('SigPnd'), shared: get('ShdPnd') }
}

/** Polls `fn` until it returns truthy, or throws after the deadline. */
async function waitFor(fn, what, timeout = DEADLINE) {
  const end = Date.now() + timeout
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Bytes, inode and mtime of a file, to prove nobody touched it. */
function snapshot(file) {
  const st = fs.statSync(file, { bigint: true })
  return { bytes: fs.readFileSync(file).toString('base64'), ino: st.ino, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, size: st.size }
}

/** Spawns a `sleep 60` the test owns (a sleeping node on Windows); killed after the test. */
function spawnSleep(t) {
  const [cmd, args] = WIN ? [process.execPath, ['-e', 'setTimeout(() => {}, 60000)']] : ['sleep', ['60']]
  const child = track(t, spawn(cmd, args, { stdio: 'ignore' }))
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  return { child, pid: child.pid, exited }
}

module.exports = {
  WIN,
  WINE,
  posixOnly,
  linuxOnly,
  diedOf,
  wineGap,
  WINE_GAPS,
  scaled,
  DEADLINE,
  ROOT,
  HOLDER,
  CLI,
  BIN,
  runFile,
  tmpDir,
  track,
  lineReader,
  startHolder,
  hold,
  waitExit,
  withDeadline,
  run,
  cli,
  node,
  isRunning,
  signalMasks,
  waitFor,
  snapshot,
  spawnSleep,
}
