'use strict'
// pid-guard as a user meets it: the tarballs scripts/pack-local.js writes (the main package in the
// shape CI publishes it, see scripts/prepare-publish.js, and this machine's platform package with
// the locally built addon and `pid-guard` binary), installed into fresh projects with
// `npm install --offline`, then used from there: require, import, and the `pid-guard` command.
// - `app`, installed with scripts: install.js has put the native binary in place of the JS
//   launcher, so node_modules/.bin/pid-guard and npx run it with no node in between.
// - `noscripts`, installed with --ignore-scripts: the launcher runs the binary, passing argv,
//   stdio, exit code and signal through; `standin` is the same with the binary replaced by a
//   shell script, to watch what the launcher passes.
// - `bare`, installed with --omit=optional: what a missing addon and binary say.
// No network: installs are --offline with an empty temp cache.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { platforms } = require('../scripts/platforms')
const { packLocal, npmCli } = require('../scripts/pack-local')
const { BIN_NAME } = require('../lib/platform')

const ROOT = path.join(__dirname, '..')
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
const DEADLINE = 15000

// npm's own CLI script, found as scripts/pack-local.js finds it (npm and npx then run through
// this node, without a shell, on every OS).

/** This machine's napi-rs platform name: linux-x64-gnu, linux-arm64-musl, darwin-arm64, win32-x64-msvc. */
function hostAbi() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const glibc = process.report?.getReport?.()?.header?.glibcVersionRuntime
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

const NPM = npmCli()
const NPX = NPM && path.join(path.dirname(NPM), 'npx-cli.js')
const ABI = hostAbi()
const PLATFORM = platforms().find((p) => p.abi === ABI)
const BUILT = path.join(ROOT, `pid-guard.${ABI}.node`)
const BUILT_BIN = PLATFORM && path.join(PLATFORM.dir, BIN_NAME)
const skip = !NPM
  ? 'npm-cli.js not found next to node'
  : !PLATFORM
    ? `no npm/${ABI} platform package: ${process.platform}-${process.arch} is not a napi target`
    : !fs.existsSync(BUILT)
      ? `pid-guard.${ABI}.node is not built (npm run build)`
      : !fs.existsSync(BUILT_BIN)
        ? `npm/${ABI}/${BIN_NAME} is not built (node scripts/build-cli.js)`
        : false

let tmp // everything this file creates lives under it
let cache

/** The environment of every child: no npm_* settings inherited from a surrounding `npm test`. */
function cleanEnv(extra = {}) {
  const out = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) out[k] = v
  return {
    ...out,
    npm_config_cache: cache,
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    npm_config_loglevel: 'error',
    ...extra,
  }
}

/** Runs node with `args` in `cwd`; throws with everything it printed unless it exits `expect`. */
function node(args, cwd, { expect = 0, extraEnv } = {}) {
  const r = spawnSync(process.execPath, args, { cwd, env: cleanEnv(extraEnv), encoding: 'utf8', timeout: DEADLINE })
  if (r.error) throw r.error
  if (expect !== null && r.status !== expect) {
    throw new Error(
      `${args.map((a) => (a.length > 80 ? a.slice(0, 80) + '...' : a)).join(' ')} in ${cwd}: exit ${r.status} ${r.signal ?? ''}, expected ${expect}\n` +
        `stdout: ${r.stdout}\nstderr: ${r.stderr}`,
    )
  }
  return r
}

const npm = (args, cwd, opts) => node([NPM, ...args], cwd, opts)
const npx = (args, cwd, opts) => node([NPX, ...args], cwd, opts)

/** A fresh project with `specs` installed offline. */
function project(name, specs, flags = []) {
  const dir = path.join(tmp, name)
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }))
  npm(['install', '--offline', '--no-audit', '--no-fund', ...flags, ...specs], dir)
  return dir
}

/** A fresh 0700 guard directory. */
function guardDir() {
  const dir = fs.mkdtempSync(path.join(tmp, 'guards-'))
  fs.chmodSync(dir, 0o700)
  return dir
}

describe('the platform packages under npm/', () => {
  const OS = { linux: 'linux', darwin: 'darwin', win32: 'win32' }
  for (const p of platforms()) {
    it(`${p.abi} (${p.triple})`, () => {
      const pkg = JSON.parse(fs.readFileSync(path.join(p.dir, 'package.json'), 'utf8'))
      const [os_, cpu, abi] = p.abi.split('-')
      const node = `pid-guard.${p.abi}.node`
      const bin = os_ === 'win32' ? 'pid-guard.exe' : 'pid-guard'
      assert.equal(pkg.name, p.name)
      assert.ok(p.name.startsWith('@pid-guard/'), 'scoped, so the registry spam filter lets it through')
      assert.equal(pkg.version, PKG.version, 'same version as pid-guard (npm version runs scripts/sync-version.js)')
      assert.deepEqual(pkg.os, [OS[os_]])
      assert.deepEqual(pkg.cpu, [cpu])
      assert.deepEqual(pkg.libc, os_ === 'linux' ? [abi === 'musl' ? 'musl' : 'glibc'] : undefined)
      assert.equal(pkg.main, node)
      assert.deepEqual(pkg.files, [node, bin], 'the addon and the command')
      assert.equal(pkg.bin, undefined, "the command is pid-guard's bin (the launcher), not the platform package's")
      assert.equal(pkg.license, PKG.license)
      assert.equal(pkg.preferUnplugged, true, 'Yarn PnP keeps it out of its zip archive, so the binary can be run')
      assert.deepEqual(pkg.engines, PKG.engines)
      assert.deepEqual(pkg.repository, PKG.repository, 'npm provenance checks repository.url')
      assert.equal(pkg.publishConfig?.access, 'public')
      assert.ok(fs.existsSync(path.join(p.dir, 'README.md')))
      // The command built by scripts/build-cli.js lives here in a checkout (git-ignored).
      const stray = fs.readdirSync(p.dir).filter((f) => !['package.json', 'README.md', bin].includes(f))
      assert.deepEqual(stray, [], `build output left in npm/${p.abi}`)
    })
  }
})

describe('the npm package, installed from tarballs into a fresh project', { skip }, () => {
  let dryRun // file list of `npm pack --dry-run` in the repository
  let main // { file, files } of the main tarball
  let plat // { file, files } of this machine's platform tarball
  let app // the project both are installed into
  let bare // the project installed with --omit=optional
  let noscripts // the project installed with --ignore-scripts

  before(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pg-package-')))
    cache = path.join(tmp, 'npm-cache')
    const packed = packLocal(path.join(tmp, 'tarballs'), { env: cleanEnv() })
    dryRun = packed.files
    main = packed.main
    plat = packed.platform

    app = project('app', [main.file, plat.file])
    bare = project('bare', [main.file], ['--omit=optional'])
    noscripts = project('noscripts', [main.file, plat.file], ['--ignore-scripts'])
  })

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  it('packs only what users need: no build output, sources, tests or Cargo files', () => {
    for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'index.js', 'index.mjs', 'index.d.ts', 'binding.js', 'bin/pid-guard', 'install.js', 'lib/native.js', 'lib/platform.js']) {
      assert.ok(dryRun.includes(f), `${f} is missing from the tarball: ${dryRun.join(' ')}`)
    }
    const junk = dryRun.filter(
      (f) =>
        /^(target|src|crates|__test__|benchmark|npm|scripts|node_modules|\.github|\.ci|\.cargo)\//.test(f) ||
        /\.(node|tgz|rs|log)$/.test(f) ||
        /^(Cargo\.(toml|lock)|build\.rs|package-lock\.json|\.gitignore)$/.test(f),
    )
    assert.deepEqual(junk, [], 'build junk in the tarball')
    // Every file the packaged JS requires by a relative path is packaged too (binding.js's
    // try-one-after-another loads of ./pid-guard.<platform>.node and the WASI loader aside).
    for (const f of dryRun.filter((f) => /\.(c?js|mjs)$/.test(f) || f === 'bin/pid-guard')) {
      const src = fs.readFileSync(path.join(ROOT, f), 'utf8')
      for (const [, spec] of src.matchAll(/(?:require\(|from\s+|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
        if (f === 'binding.js' && /^\.\/pid-guard\.[\w.-]+\.(node|cjs)$/.test(spec)) continue
        const base = path.posix.normalize(path.posix.join(path.posix.dirname(f), spec))
        const hit = [base, `${base}.js`, path.posix.join(base, 'index.js'), `${base}.json`].some((c) => dryRun.includes(c))
        assert.ok(hit, `${f} requires ${spec}, which is not in the tarball`)
      }
    }
    assert.deepEqual([...main.files].sort(), [...dryRun].sort(), 'the staged copy packs the same files')
  })

  it('publishes a package.json that pins every platform package and runs only install.js at install', () => {
    const installed = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'pid-guard', 'package.json'), 'utf8'))
    const expected = Object.fromEntries(platforms().map((p) => [p.name, PKG.version]))
    assert.deepEqual(installed.optionalDependencies, expected)
    for (const s of ['preinstall', 'install', 'prepare']) assert.equal(installed.scripts?.[s], undefined, `${s} script`)
    assert.equal(installed.scripts?.postinstall, 'node install.js', 'the step that puts the binary in place of the launcher')
    assert.equal(installed.bin['pid-guard'], 'bin/pid-guard')
    assert.ok(installed.repository?.url, 'repository.url (npm provenance checks it)')
  })

  it('ships the platform package with os, cpu, libc, the addon and the executable command', () => {
    const dir = path.join(app, 'node_modules', ...PLATFORM.name.split('/'))
    const p = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
    assert.equal(p.name, PLATFORM.name)
    assert.equal(p.version, PKG.version)
    assert.deepEqual(p.os, [process.platform])
    assert.deepEqual(p.cpu, [process.arch])
    if (process.platform === 'linux') assert.deepEqual(p.libc, [ABI.endsWith('musl') ? 'musl' : 'glibc'])
    assert.ok(fs.existsSync(path.join(dir, p.main)), `${p.main} installed`)
    assert.deepEqual([...plat.files].sort(), ['README.md', p.main, 'package.json', BIN_NAME].sort())
    if (process.platform !== 'win32') {
      const mode = fs.statSync(path.join(dir, BIN_NAME)).mode
      assert.equal(mode & 0o111, 0o111, `${BIN_NAME} is executable: mode ${mode.toString(8)}`)
    }
  })

  it("require('pid-guard').acquire works, with the addon from the platform package", () => {
    const dir = guardDir()
    const script = `
      const pg = require('pid-guard')
      const g = pg.acquire('x', { dir: process.argv[1] })
      const pid = require('fs').readFileSync(require('path').join(process.argv[1], 'x.pid'), 'utf8')
      const addon = Object.keys(require.cache).find((k) => k.endsWith('.node'))
      console.log(JSON.stringify({ pid, me: process.pid, state: pg.status('x', { dir: process.argv[1] }).state,
        main: require.resolve('pid-guard'), addon, version: pg.version }))
      g.release()`
    const out = JSON.parse(node(['-e', script, dir], app).stdout)
    assert.equal(out.pid, `${out.me}\n`)
    assert.equal(out.state, 'held')
    assert.equal(out.version, PKG.version)
    const real = (p) => fs.realpathSync.native(p) // one spelling (Windows short names, case)
    assert.equal(real(out.main), real(path.join(app, 'node_modules', 'pid-guard', 'index.js')))
    assert.ok(out.addon, 'no .node module in require.cache')
    assert.equal(real(out.addon), real(path.join(app, 'node_modules', ...PLATFORM.name.split('/'), `pid-guard.${ABI}.node`)))
    // The pid file is gone; the lock file stays (with the last holder's record).
    assert.deepEqual(fs.readdirSync(dir), ['x.lock'], 'release removed the pid file')
  })

  it("import { acquire } from 'pid-guard' works (ESM)", () => {
    const dir = guardDir()
    const file = path.join(app, 'esm-check.mjs')
    fs.writeFileSync(
      file,
      `import { acquire, status, PidGuardError } from 'pid-guard'
import pidGuard from 'pid-guard'
const dir = process.argv[2]
const g = acquire('esm', { dir })
let code = null
try { pidGuard.acquire('esm', { dir }) } catch (e) { code = e instanceof PidGuardError ? e.code : String(e) }
console.log(JSON.stringify({ state: status('esm', { dir }).state, code, same: pidGuard.acquire === acquire }))
g.release()
`,
    )
    const out = JSON.parse(node([file, dir], app).stdout)
    assert.deepEqual(out, { state: 'held', code: 'ELOCKED', same: true })
  })

  describe('installed with install scripts', { skip: process.platform === 'win32' ? 'Windows keeps the launcher (.cmd shims run node)' : false }, () => {
    const MAGIC = { linux: [0x7f, 0x45, 0x4c, 0x46], darwin: [0xcf, 0xfa, 0xed, 0xfe] } // ELF, Mach-O 64-bit

    it('node_modules/.bin/pid-guard is the native binary, not a script run by node', () => {
      const bin = fs.realpathSync(path.join(app, 'node_modules', '.bin', 'pid-guard'))
      assert.equal(bin, fs.realpathSync(path.join(app, 'node_modules', 'pid-guard', 'bin', 'pid-guard')))
      const head = [...fs.readFileSync(bin).subarray(0, 4)]
      assert.deepEqual(head, MAGIC[process.platform], `${bin} starts with ${JSON.stringify(head)}`)
      const shipped = path.join(app, 'node_modules', ...PLATFORM.name.split('/'), BIN_NAME)
      assert.ok(fs.readFileSync(bin).equals(fs.readFileSync(shipped)), 'the platform package binary, copied')
      assert.equal(fs.statSync(bin).mode & 0o111, 0o111, 'executable')
      assert.deepEqual(
        fs.readdirSync(path.dirname(bin)).filter((f) => f !== 'pid-guard'),
        [],
        'no temp file left in bin/',
      )
    })

    it('pid-guard --version says the native binary ran, with no launcher', () => {
      const r = spawnSync(path.join(app, 'node_modules', '.bin', 'pid-guard'), ['--version'], { env: cleanEnv(), encoding: 'utf8' })
      assert.equal(r.status, 0, r.stderr)
      assert.equal(r.stdout, `${PKG.version} (native binary)\n`)
    })

    const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' })
    it(
      "README's systemd unit passes systemd-analyze verify, its ExecStart= being this install's binary",
      { skip: process.platform !== 'linux' || analyze.status !== 0 ? 'no systemd-analyze here' : false },
      () => {
        const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
        const section = readme.slice(readme.indexOf('### systemd\n'))
        const unit = /```ini\n([\s\S]*?)\n```/.exec(section)[1]
        assert.match(unit, /^Type=simple$/m)
        assert.doesNotMatch(unit, /PIDFile=|npx/, 'Type=simple: systemd knows the main process; no npx')
        assert.match(unit, /^ExecStart=\/srv\/app\/node_modules\/\.bin\/pid-guard run /m)
        const file = path.join(tmp, 'session-pool.service')
        fs.writeFileSync(file, unit.replaceAll('/srv/app', app).replaceAll('/usr/bin/node', process.execPath))
        const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: DEADLINE })
        const ours = r.stderr.split('\n').filter((l) => l.includes('session-pool'))
        assert.deepEqual(ours, [], r.stderr)
        assert.equal(r.status, 0, r.stderr)
      },
    )

    it('.bin/pid-guard run leaves no process between the caller and the command (Linux: exec)', { skip: process.platform !== 'linux' ? '/proc' : false }, async () => {
      const dir = guardDir()
      const sleep = spawnSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).stdout.trim()
      const child = spawn(path.join(app, 'node_modules', '.bin', 'pid-guard'), ['run', 'svc', '--dir', dir, '--', sleep, '30'], {
        env: cleanEnv(),
        stdio: 'ignore',
      })
      const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
      try {
        const pidFile = path.join(dir, 'svc.pid')
        const deadline = Date.now() + DEADLINE
        // The pid file is written before the exec; /proc/PID/exe changes at the exec.
        const execd = () => {
          try {
            return fs.readlinkSync(`/proc/${child.pid}/exe`) === fs.realpathSync(sleep)
          } catch {
            return false
          }
        }
        while (!(fs.existsSync(pidFile) && execd())) {
          if (child.exitCode !== null || Date.now() > deadline) throw new Error(`run did not start ${sleep}: exit ${child.exitCode}`)
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        assert.equal(fs.readFileSync(pidFile, 'utf8').trim(), String(child.pid), 'the pid file names the process we started')
      } finally {
        child.kill('SIGTERM')
      }
      assert.deepEqual(await exited, { code: null, signal: 'SIGTERM' }, 'the command itself got the signal and died of it')
    })

    it('npx pid-guard --version runs the same binary', () => {
      const r = npx(['--no-install', 'pid-guard', '--version'], app)
      assert.equal(r.stdout, `${PKG.version} (native binary)\n`)
    })
  })

  describe('installed with --ignore-scripts: the node launcher', () => {
    const bin = () => path.join(noscripts, 'node_modules', '.bin', process.platform === 'win32' ? 'pid-guard.cmd' : 'pid-guard')
    const launch = (args, opts = {}) =>
      spawnSync(process.platform === 'win32' ? process.execPath : bin(), process.platform === 'win32' ? [path.join(noscripts, 'node_modules', 'pid-guard', 'bin', 'pid-guard'), ...args] : args, {
        env: cleanEnv(),
        encoding: 'utf8',
        timeout: DEADLINE,
        ...opts,
      })

    it('.bin/pid-guard is the JS launcher', () => {
      const file = fs.readFileSync(path.join(noscripts, 'node_modules', 'pid-guard', 'bin', 'pid-guard'), 'utf8')
      assert.ok(file.startsWith('#!/usr/bin/env node\n'), file.slice(0, 40))
    })

    it('pid-guard --version says the node launcher started the binary', () => {
      const r = launch(['--version'])
      assert.equal(r.status, 0, r.stderr)
      assert.equal(r.stdout, `${PKG.version} (native binary, started by the node launcher)\n`)
    })

    it("a command's exit code and output pass through: status of an unknown guard exits 3", (t) => {
      const dir = guardDir()
      const r = launch(['status', 'nosuch', '--dir', dir])
      if (/not implemented/.test(r.stderr)) return t.skip('status is not ported to the native command in this build')
      assert.equal(r.status, 3, r.stderr)
      assert.equal(r.signal, null)
      assert.match(r.stdout, /nosuch/)
    })

    it("the binary's exit code and stderr pass through (a usage error: exit 2)", () => {
      const r = launch(['--no-such-option'])
      assert.equal(r.status, 2, r.stderr)
      assert.equal(r.signal, null)
      assert.match(r.stderr, /no-such-option/)
    })
  })

  describe('the launcher, running a stand-in binary (a node script) in place of the real one', { skip: process.platform === 'win32' ? 'POSIX shell and signals' : false }, () => {
    let standin
    before(() => {
      standin = project('standin', [main.file, plat.file], ['--ignore-scripts'])
      const fake = path.join(standin, 'node_modules', ...PLATFORM.name.split('/'), BIN_NAME)
      // A node script, whose listener runs once for each signal delivered (a shell's trap can
      // run once for two). Prints its argv and PID_GUARD_LAUNCHER. "sleep": waits, dies of the
      // signal it gets. Otherwise counts the SIGTERMs (SIGINTs with "int") it gets, numbered, and
      // 300 ms after the first exits 4.
      fs.writeFileSync(
        fake,
        `#!${process.execPath}
const args = process.argv.slice(2)
if (args[0] === 'sleep') {
  setTimeout(() => process.exit(9), 30000)
} else {
  const sig = args[0] === 'int' ? 'SIGINT' : 'SIGTERM'
  let n = 0
  process.on(sig, () => {
    console.log(sig.slice(3) + ' ' + ++n)
    if (n === 1) setTimeout(() => process.exit(4), 300)
  })
  setTimeout(() => process.exit(9), 10000)
}
console.log('ready ' + JSON.stringify(args) + ' ' + process.env.PID_GUARD_LAUNCHER)
`,
      )
      fs.chmodSync(fake, 0o755)
    })

    /** Starts the launcher in its own process group; resolves once the stand-in printed "ready". */
    async function start(args) {
      const child = spawn(path.join(standin, 'node_modules', '.bin', 'pid-guard'), args, {
        env: cleanEnv(),
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      })
      let out = ''
      let err = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (err += d))
      // 'close': after the exit and the last output.
      const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
      const deadline = Date.now() + DEADLINE
      while (!out.includes('ready')) {
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
          throw new Error(`the stand-in did not get ready: exit ${child.exitCode} ${child.signalCode}\n${out}\n${err}`)
        }
        await new Promise((resolve) => child.stdout.once('data', resolve).once('close', resolve))
      }
      return { child, exited: exited.then((r) => ({ ...r, out, err })) }
    }

    it('argv passes through unchanged, -h after -- included, with PID_GUARD_LAUNCHER=node', async () => {
      const { child, exited } = await start(['a b', '--', '-h'])
      child.kill('SIGTERM')
      const r = await exited
      assert.ok(r.out.startsWith(`ready ${JSON.stringify(['a b', '--', '-h'])} node\n`), r.out)
      // The SIGTERM sent to the launcher's pid reached the binary (forwarded once) even though it
      // came right after the binary's first output, and its exit code came back.
      assert.deepEqual(r.out.match(/^TERM \d+$/gm), ['TERM 1'], r.out)
      assert.equal(r.code, 4, r.err)
    })

    it('a SIGTERM to the launcher\'s process group reaches the binary once; its exit code becomes the launcher\'s', async () => {
      const { child, exited } = await start([])
      process.kill(-child.pid, 'SIGTERM')
      const r = await exited
      assert.deepEqual(r.out.match(/^TERM \d+$/gm), ['TERM 1'], r.out)
      assert.equal(r.code, 4, r.err)
      assert.equal(r.signal, null)
    })

    const hasScript = spawnSync('script', ['--version']).status === 0
    it('on a terminal, Ctrl-C reaches the binary once, from the terminal, and is not forwarded', { skip: hasScript ? false : 'no script(1)' }, async () => {
      // util-linux script(1) gives the launcher a real pseudo-terminal; the \x03 written to it is
      // the terminal's Ctrl-C: SIGINT to the foreground group, the launcher and the binary both.
      const launcher = path.join(standin, 'node_modules', '.bin', 'pid-guard')
      const child = spawn('script', ['-qefc', `exec ${JSON.stringify(launcher)} int`, '/dev/null'], { env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] })
      let out = ''
      let sent = false
      const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
      const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE)
      child.stdout.on('data', (d) => {
        out += d
        if (out.includes('ready') && !sent) {
          sent = true
          child.stdin.write('\x03')
        }
      })
      const r = await exited
      clearTimeout(timer)
      assert.match(out, /ready \["int"\] node/, out)
      assert.deepEqual(out.match(/INT \d+/g), ['INT 1'], JSON.stringify(out))
      assert.equal(r.code, 4, JSON.stringify(out))
    })

    it('a binary killed by a signal makes the launcher die of the same signal', async () => {
      const { child, exited } = await start(['sleep'])
      child.kill('SIGTERM') // to the launcher's pid: forwarded to the binary (sleep)
      const r = await exited
      assert.equal(r.signal, 'SIGTERM', JSON.stringify(r))
      assert.equal(r.code, null)
    })
  })

  describe('with a service holding a guard', () => {
    let dir
    let holder
    before(async () => {
      dir = guardDir()
      holder = spawn(
        process.execPath,
        ['-e', "require('pid-guard').acquire('svc', { dir: process.argv[1] }); console.log('ready'); process.stdin.resume(); process.stdin.on('end', () => process.exit(0))", dir],
        { cwd: app, env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] },
      )
      let err = ''
      holder.stderr.on('data', (d) => (err += d))
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`holder not ready in ${DEADLINE} ms: ${err}`)), DEADLINE)
        holder.stdout.on('data', (d) => {
          if (String(d).includes('ready')) {
            clearTimeout(timer)
            resolve()
          }
        })
        holder.on('exit', (code) => {
          clearTimeout(timer)
          reject(new Error(`holder exited ${code} before ready: ${err}`))
        })
      })
    })
    after(async () => {
      if (holder.exitCode !== null || holder.signalCode !== null) return
      const exited = new Promise((resolve) => holder.on('exit', resolve))
      holder.kill('SIGKILL')
      await exited
    })

    it('npx pid-guard list shows it', () => {
      const r = npx(['--no-install', 'pid-guard', 'list', '--dir', dir], app)
      const row = r.stdout.split('\n').find((l) => l.startsWith('svc '))
      assert.ok(row, r.stdout)
      assert.match(row, new RegExp(`^svc\\s+held\\s+${holder.pid}\\s+exclusive`))
    })

    it(
      'npx pid-guard health reports it running',
      () => {
        const r = npx(['--no-install', 'pid-guard', 'health', 'svc', '--dir', dir, '--json'], app)
        assert.ok(r.stdout.includes(String(holder.pid)), r.stdout)
        JSON.parse(r.stdout)
      },
    )
  })

  describe('without the platform package (--omit=optional)', () => {
    const probe = `
      try { require('pid-guard'); console.log(JSON.stringify({ loaded: true })) }
      catch (e) { console.log(JSON.stringify({ code: e.code, name: e.name, message: e.message })) }`

    it('was really installed without it', () => {
      assert.ok(fs.existsSync(path.join(bare, 'node_modules', 'pid-guard', 'index.js')))
      assert.equal(fs.existsSync(path.join(bare, 'node_modules', '@pid-guard')), false)
    })

    it('fails with ENOBINARY naming the platform, the package and the fix', () => {
      const out = JSON.parse(node(['-e', probe], bare).stdout)
      assert.equal(out.code, 'ENOBINARY', JSON.stringify(out))
      assert.equal(out.name, 'PidGuardError', 'a PidGuardError, as documented')
      assert.ok(out.message.includes(`${process.platform}-${process.arch}`), `names the platform: ${out.message}`)
      assert.ok(out.message.includes(`@pid-guard/binding-${process.platform}-${process.arch}`), `names the package: ${out.message}`)
      assert.match(out.message, /--omit=optional/, 'says what causes it')
      assert.match(out.message, /npm install/, 'says how to fix it')
    })

    it('names the exact package for this machine, libc included', () => {
      const out = JSON.parse(node(['-e', probe], bare).stdout)
      assert.ok(out.message.includes(PLATFORM.name), out.message)
    })

    it('the pid-guard command fails the same way, exit status 1', () => {
      const r = npx(['--no-install', 'pid-guard', 'list'], bare, { expect: null })
      assert.notEqual(r.status, 0)
      assert.match(r.stderr, /ENOBINARY|no native binary/)
      assert.ok(r.stderr.includes(`@pid-guard/binding-${process.platform}-${process.arch}`), r.stderr)
    })

    it('the pid-guard command prints just the message, no "unexpected error" and stack', () => {
      const r = npx(['--no-install', 'pid-guard', 'list'], bare, { expect: 1 })
      assert.doesNotMatch(r.stderr, /unexpected error|\n\s+at /)
    })

    it('install.js left the launcher, which says ENOBINARY and exits 1', { skip: process.platform === 'win32' ? '.cmd shim' : false }, () => {
      const r = spawnSync(path.join(bare, 'node_modules', '.bin', 'pid-guard'), ['--version'], { env: cleanEnv(), encoding: 'utf8' })
      assert.equal(r.status, 1, r.stderr)
      assert.equal(r.stdout, '')
      assert.match(r.stderr, /^pid-guard: no native binary for /)
      assert.ok(r.stderr.includes(`@pid-guard/binding-${ABI} is not installed`), r.stderr)
      assert.match(r.stderr, /--omit=optional/)
    })
  })
})
