#!/usr/bin/env node
'use strict'
// Lint, as `npm test` runs it: rustfmt, clippy with -D warnings for every target this machine can
// check (linux gnu/musl, darwin x64/arm64, windows gnu/msvc), and ESLint over the JS.
// Missing Rust targets are added with `rustup target add` (the std library only; nothing links).
// The other targets are checked without the "tls" feature: its ring compiles C, which would need a
// C compiler for each target, and the TLS code is the same on every platform, so the host check
// (all features, then none) covers it. No C compiler runs in the cross checks at all.
// `--fast` checks only the host target.

const { spawnSync } = require('node:child_process')
const os = require('node:os')
const path = require('node:path')

const { ROOT, fakeLibnode } = require('./cross')

const CROSS = [
  'x86_64-unknown-linux-musl',
  'x86_64-apple-darwin',
  'aarch64-apple-darwin',
  'x86_64-pc-windows-gnu',
  'x86_64-pc-windows-msvc',
]

function run(cmd, args, opts = {}) {
  process.stderr.write(`lint: ${cmd} ${args.join(' ')}\n`)
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', ...opts })
  if (r.error) throw r.error
  if (r.status !== 0) {
    process.stderr.write(`lint: failed: ${cmd} ${args.join(' ')} (exit ${r.status ?? r.signal})\n`)
    process.exit(1)
  }
}

function main() {
  const fast = process.argv.includes('--fast')
  run('cargo', ['fmt', '--all', '--check'])
  run('cargo', ['clippy', '--quiet', '--workspace', '--all-targets', '--all-features', '--', '-D', 'warnings'])
  if (!fast) run('cargo', ['clippy', '--quiet', '--workspace', '--all-targets', '--no-default-features', '--', '-D', 'warnings'])
  if (!fast && os.platform() === 'linux' && os.arch() === 'x64') {
    const installed = spawnSync('rustup', ['target', 'list', '--installed'], { encoding: 'utf8' }).stdout ?? ''
    const missing = CROSS.filter((t) => !installed.split('\n').includes(t))
    if (missing.length) run('rustup', ['target', 'add', ...missing])
    const env = { ...process.env, LIBNODE_PATH: fakeLibnode() }
    for (const target of CROSS) {
      run('cargo', ['clippy', '--quiet', '--workspace', '--lib', '--bins', '--no-default-features', '--target', target, '--', '-D', 'warnings'], { env })
    }
  }
  run(process.execPath, [path.join(ROOT, 'node_modules', 'eslint', 'bin', 'eslint.js'), '--max-warnings=0', '.'])
}

main()
