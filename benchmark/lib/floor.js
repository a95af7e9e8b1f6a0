'use strict'
// Builds and runs benchmark/floor.rs (cargo example "floor"): the bare syscalls of one lock +
// pid file cycle, in Rust, with no JS in the way.

const { execFileSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..', '..')

function build() {
  execFileSync('cargo', ['build', '--release', '--example', 'floor', '--quiet'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const target = process.env.CARGO_TARGET_DIR || path.join(root, 'target')
  return path.join(target, 'release', 'examples', process.platform === 'win32' ? 'floor.exe' : 'floor')
}

/** One measured round in a fresh process (after its own warm-up): microseconds per op. */
function round(exe, dir, iterations, warmup) {
  const out = execFileSync(exe, [dir, String(iterations), '1', String(warmup)], { encoding: 'utf8' })
  return JSON.parse(out.trim().split('\n').pop()).usPerOp
}

/**
 * pid-guard's exclusive acquire + release replayed syscall by syscall in Rust (the sequence
 * strace shows), each step timed: { syscalls, sumOfMediansUs, steps: [{ step, medianUs, meanUs }] }.
 */
function breakdown(exe, dir, iterations) {
  return JSON.parse(execFileSync(exe, ['--breakdown', dir, String(iterations)], { encoding: 'utf8' }))
}

module.exports = { build, round, breakdown }
