'use strict'
// pid-guard as a user meets it: `npm pack` the package (in the shape CI publishes it, see
// scripts/prepare-publish.js) and this machine's platform package (npm/<platform> plus the locally
// built pid-guard.<platform>.node, in a temp copy), install both into a fresh project with
// `npm install --offline`, then use it from there: require, import, and the `pid-guard` command
// through npx. A second project installed with --omit=optional shows what a missing binary says.
// No network: installs are --offline with an empty temp cache.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { platforms } = require('../scripts/platforms')

const ROOT = path.join(__dirname, '..')
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
const DEADLINE = 15000

/** npm's own CLI scripts, so npm and npx run through this node without a shell on every OS. */
function npmCli() {
  const candidates = [
    process.env.npm_execpath,
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'bin', 'npm-cli.js'),
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
  ]
  return candidates.find((c) => c && /npm-cli\.js$/.test(c) && fs.existsSync(c)) ?? null
}

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
const skip = !NPM
  ? 'npm-cli.js not found next to node'
  : !PLATFORM
    ? `no npm/${ABI} platform package: ${process.platform}-${process.arch} is not a napi target`
    : !fs.existsSync(BUILT)
      ? `pid-guard.${ABI}.node is not built (npm run build)`
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

/** `npm pack` of `dir` into tmp/tarballs; returns the tarball's path and its file list. */
function pack(dir) {
  const dest = path.join(tmp, 'tarballs')
  fs.mkdirSync(dest, { recursive: true })
  const r = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dest], dir)
  const [info] = JSON.parse(r.stdout)
  return { file: path.join(dest, info.filename), files: info.files.map((f) => f.path) }
}

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
      assert.equal(pkg.name, p.name)
      assert.ok(p.name.startsWith('@pid-guard/'), 'scoped, so the registry spam filter lets it through')
      assert.equal(pkg.version, PKG.version, 'same version as pid-guard (npm version runs scripts/sync-version.js)')
      assert.deepEqual(pkg.os, [OS[os_]])
      assert.deepEqual(pkg.cpu, [cpu])
      assert.deepEqual(pkg.libc, os_ === 'linux' ? [abi === 'musl' ? 'musl' : 'glibc'] : undefined)
      assert.equal(pkg.main, node)
      assert.deepEqual(pkg.files, [node])
      assert.equal(pkg.license, PKG.license)
      assert.deepEqual(pkg.engines, PKG.engines)
      assert.deepEqual(pkg.repository, PKG.repository, 'npm provenance checks repository.url')
      assert.equal(pkg.publishConfig?.access, 'public')
      assert.ok(fs.existsSync(path.join(p.dir, 'README.md')))
      const stray = fs.readdirSync(p.dir).filter((f) => !['package.json', 'README.md'].includes(f))
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

  before(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pg-package-')))
    cache = path.join(tmp, 'npm-cache')
    const r = npm(['pack', '--dry-run', '--json', '--ignore-scripts'], ROOT)
    dryRun = JSON.parse(r.stdout)[0].files.map((f) => f.path)

    // The main package as CI publishes it: exactly the packed files, then prepare-publish.
    const stage = path.join(tmp, 'main')
    for (const f of dryRun) {
      fs.mkdirSync(path.dirname(path.join(stage, f)), { recursive: true })
      fs.copyFileSync(path.join(ROOT, f), path.join(stage, f))
    }
    node([path.join(ROOT, 'scripts', 'prepare-publish.js'), path.join(stage, 'package.json')], ROOT)
    main = pack(stage)

    // This machine's platform package: npm/<abi> plus the built addon, in a temp copy.
    const platStage = path.join(tmp, `binding-${ABI}`)
    fs.cpSync(PLATFORM.dir, platStage, { recursive: true })
    fs.copyFileSync(BUILT, path.join(platStage, path.basename(BUILT)))
    plat = pack(platStage)

    app = project('app', [main.file, plat.file])
    bare = project('bare', [main.file], ['--omit=optional'])
  })

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  it('packs only what users need: no build output, sources, tests or Cargo files', () => {
    for (const f of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'index.js', 'index.mjs', 'index.d.ts', 'binding.js', 'cli.js', 'lib/native.js']) {
      assert.ok(dryRun.includes(f), `${f} is missing from the tarball: ${dryRun.join(' ')}`)
    }
    const junk = dryRun.filter(
      (f) =>
        /^(target|src|__test__|benchmark|npm|scripts|node_modules|\.github|\.ci|\.cargo)\//.test(f) ||
        /\.(node|tgz|rs|log)$/.test(f) ||
        /^(Cargo\.(toml|lock)|build\.rs|package-lock\.json|\.gitignore)$/.test(f),
    )
    assert.deepEqual(junk, [], 'build junk in the tarball')
    // Every file the packaged JS requires by a relative path is packaged too (binding.js's
    // try-one-after-another loads of ./pid-guard.<platform>.node and the WASI loader aside).
    for (const f of dryRun.filter((f) => /\.(c?js|mjs)$/.test(f))) {
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

  it('publishes a package.json that pins every platform package and runs nothing at install', () => {
    const installed = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', 'pid-guard', 'package.json'), 'utf8'))
    const expected = Object.fromEntries(platforms().map((p) => [p.name, PKG.version]))
    assert.deepEqual(installed.optionalDependencies, expected)
    for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) assert.equal(installed.scripts?.[s], undefined, `${s} script`)
    assert.equal(installed.bin['pid-guard'], 'cli.js')
    assert.ok(installed.repository?.url, 'repository.url (npm provenance checks it)')
  })

  it('ships the platform package with os, cpu, libc and only the addon', () => {
    const dir = path.join(app, 'node_modules', ...PLATFORM.name.split('/'))
    const p = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
    assert.equal(p.name, PLATFORM.name)
    assert.equal(p.version, PKG.version)
    assert.deepEqual(p.os, [process.platform])
    assert.deepEqual(p.cpu, [process.arch])
    if (process.platform === 'linux') assert.deepEqual(p.libc, [ABI.endsWith('musl') ? 'musl' : 'glibc'])
    assert.ok(fs.existsSync(path.join(dir, p.main)), `${p.main} installed`)
    assert.deepEqual([...plat.files].sort(), ['README.md', p.main, 'package.json'].sort())
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

  it('npx pid-guard --version prints the package version', () => {
    const r = npx(['--no-install', 'pid-guard', '--version'], app)
    assert.equal(r.stdout.trim(), PKG.version)
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

    const hasHealth = fs.existsSync(path.join(ROOT, 'lib', 'cli', 'health.js'))
    let healthExported = false
    try {
      healthExported = typeof require('..').health === 'function'
    } catch {}
    it(
      'npx pid-guard health reports it running',
      { skip: !hasHealth ? 'no lib/cli/health.js' : !healthExported ? 'index.js exports no health() yet' : false },
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
  })
})
