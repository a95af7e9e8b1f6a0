#!/usr/bin/env node
'use strict'
// The `pid-guard` binary's size per platform package, as benchmark/SIZE.md reports it.
//
//   node benchmark/size.js [--build]
//
// Measures the release binaries under the cargo target dir (CARGO_TARGET_DIR or ./target): this
// machine's, and each cross target that was built. --build builds them first
// (`cargo build --release -p pid-guard-cli [--target T]`; the workspace release profile has
// lto, codegen-units = 1 and strip = "symbols"). For each: bytes on disk and gzip -9 bytes (about
// what the npm tarball adds). For this machine's binary also the whole-process cost of
// `pid-guard --version` (median of 21 runs) and its peak RSS (/usr/bin/time -f %M), the floor
// under every command.
//
// Only targets that link here are built: Linux gnu (host), Linux musl, Windows gnu (mingw; the
// published package is built for msvc by CI, with the static CRT). macOS cannot link here.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const zlib = require('node:zlib')

const ROOT = path.join(__dirname, '..')
const TARGET_DIR = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target')
const TARGETS = [
  { triple: null, pkg: 'linux-x64-gnu (this machine)', bin: 'pid-guard' },
  { triple: 'x86_64-unknown-linux-musl', pkg: 'linux-x64-musl', bin: 'pid-guard' },
  { triple: 'x86_64-pc-windows-gnu', pkg: 'win32-x64-msvc (measured: the gnu build)', bin: 'pid-guard.exe' },
]

// ring (rustls's crypto) compiles C and assembly for the target. Without a musl cross gcc, the
// host gcc does for x86_64 musl (ring's C needs no libc headers); CI builds musl with zig.
function buildEnv(triple) {
  const env = { ...process.env }
  if (triple === 'x86_64-unknown-linux-musl' && !env.CC_x86_64_unknown_linux_musl) {
    const found = spawnSync('x86_64-linux-musl-gcc', ['--version']).status === 0
    if (!found) env.CC_x86_64_unknown_linux_musl = 'gcc'
  }
  return env
}

if (process.argv.includes('--build')) {
  for (const t of TARGETS) {
    const args = ['build', '--release', '-p', 'pid-guard-cli', ...(t.triple ? ['--target', t.triple] : [])]
    const r = spawnSync('cargo', args, { cwd: ROOT, stdio: 'inherit', env: buildEnv(t.triple) })
    if (r.status !== 0) process.stderr.write(`size: cargo ${args.join(' ')} failed; ${t.pkg} not measured\n`)
  }
}

const kib = (n) => `${(n / 1024).toFixed(0)} KiB`
const rows = []
for (const t of TARGETS) {
  const file = path.join(TARGET_DIR, ...(t.triple ? [t.triple] : []), 'release', t.bin)
  if (!fs.existsSync(file)) {
    rows.push(`| ${t.pkg} | not built | | |`)
    continue
  }
  const bytes = fs.readFileSync(file)
  const gz = zlib.gzipSync(bytes, { level: 9 }).length
  rows.push(`| ${t.pkg} | ${bytes.length} (${kib(bytes.length)}) | ${gz} (${kib(gz)}) | ${t.triple ?? 'host'} |`)
}
console.log('| platform package | binary, bytes | gzip -9, bytes | Rust target |')
console.log('|---|---:|---:|---|')
for (const r of rows) console.log(r)

const host = path.join(TARGET_DIR, 'release', 'pid-guard')
if (process.platform === 'linux' && fs.existsSync(host)) {
  const times = []
  for (let i = 0; i < 21; i++) {
    const t0 = process.hrtime.bigint()
    const r = spawnSync(host, ['--version'], { encoding: 'utf8' })
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
    if (r.status !== 0) throw new Error(`${host} --version: exit ${r.status}`)
  }
  times.sort((a, b) => a - b)
  const time = spawnSync('/usr/bin/time', ['-f', '%M', host, '--version'], { encoding: 'utf8' })
  const rss = time.status === 0 ? `${(Number(time.stderr.trim().split('\n').pop()) / 1024).toFixed(1)} MiB` : 'n/a (no /usr/bin/time)'
  const node = []
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint()
    spawnSync(process.execPath, ['-e', '0'])
    node.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  node.sort((a, b) => a - b)
  console.log(`\n\`pid-guard --version\`, whole process: median ${times[10].toFixed(1)} ms (min ${times[0].toFixed(1)}), peak RSS ${rss}; \`node -e 0\` in the same run: median ${node[2].toFixed(0)} ms`)
}
