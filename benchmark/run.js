#!/usr/bin/env node
'use strict'
// What `pid-guard run x -- sleep 60` keeps resident (Linux), against `sleep 60` alone and against
// the Node launcher (`node bin/pid-guard run`, installs without scripts; the old JS wrapper measured
// 2 processes and 48-54 MiB before it was removed): the processes in the tree started,
// and their summed resident memory (VmRSS from /proc/PID/status) once the command runs.
// The native run execs the command, so the target is 0 extra processes and 0 extra MiB.
//
//   node benchmark/run.js [--json]
//
// Needs the native binary (`node scripts/build-cli.js --release`, or PID_GUARD_BIN).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { platformId, BIN_NAME } = require('../lib/platform')

const ROOT = path.join(__dirname, '..')
const BIN = process.env.PID_GUARD_BIN || path.join(ROOT, 'npm', platformId(), BIN_NAME)
// The Node launcher (bin/pid-guard), what runs where install scripts did not put the binary in its place.
const LAUNCHER = path.join(ROOT, 'bin', 'pid-guard')

function stat(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  return { ppid: Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) }
}

/** `pid` and its descendants. */
function tree(pid) {
  const parent = new Map()
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    try {
      parent.set(Number(p), stat(p).ppid)
    } catch {}
  }
  const out = [pid]
  for (let i = 0; i < out.length; i++) for (const [c, pp] of parent) if (pp === out[i]) out.push(c)
  return out
}

function rssKiB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m)
  return m ? Number(m[1]) : 0
}

function exeOf(pid) {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`)
  } catch {
    return ''
  }
}

async function until(fn, what, ms = 10000) {
  const end = Date.now() + ms
  for (;;) {
    const v = fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** Starts `file args`, waits until a `sleep` runs in its tree, measures, kills the tree. */
async function measure(label, file, args) {
  const child = spawn(file, args, { stdio: 'ignore', detached: true })
  try {
    await until(() => tree(child.pid).some((p) => exeOf(p).endsWith('/sleep')), `${label}: sleep to run`)
    // Let the loader settle (RSS of a just-exec'd process grows for a few ms).
    await new Promise((r) => setTimeout(r, 200))
    const pids = tree(child.pid)
    const kib = pids.reduce((a, p) => a + rssKiB(p), 0)
    return { label, processes: pids.length, rssMiB: Math.round((kib / 1024) * 10) / 10 }
  } finally {
    try {
      process.kill(-child.pid, 'SIGKILL') // the group this script just created
    } catch {}
  }
}

async function main() {
  if (os.platform() !== 'linux') {
    console.error('benchmark/run.js reads /proc: Linux only')
    process.exit(0)
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-bench-run-'))
  try {
    const rows = [await measure('sleep 60', 'sleep', ['60'])]
    rows.push(await measure('pid-guard run x -- sleep 60 (native, exec)', BIN, ['run', 'x', '--dir', dir, '--', 'sleep', '60']))
    rows.push(await measure('node bin/pid-guard run x -- sleep 60 (the Node launcher: installs without scripts)', process.execPath, [LAUNCHER, 'run', 'y', '--dir', dir, '--', 'sleep', '60']))
    const base = rows[0]
    for (const r of rows) {
      r.extraProcesses = r.processes - base.processes
      r.extraMiB = Math.round((r.rssMiB - base.rssMiB) * 10) / 10
    }
    if (process.argv.includes('--json')) {
      console.log(JSON.stringify(rows, null, 2))
      return
    }
    console.log('| command | processes | RSS MiB | extra processes | extra MiB |')
    console.log('|---|---|---|---|---|')
    for (const r of rows) console.log(`| ${r.label} | ${r.processes} | ${r.rssMiB} | ${r.extraProcesses} | ${r.extraMiB} |`)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
