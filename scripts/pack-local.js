#!/usr/bin/env node
'use strict'
// Writes into DIR the tarballs a user installs, built from this checkout:
// - pid-guard-<version>.tgz: the main package as CI publishes it (the files `npm pack` takes,
//   with package.json rewritten by scripts/prepare-publish.js: pinned optionalDependencies, no
//   prepare script);
// - pid-guard-binding-<platform>-<version>.tgz: this machine's platform package, npm/<platform>/
//   with the addon (pid-guard.<platform>.node, from `npm run build`) and the command
//   (npm/<platform>/pid-guard, from scripts/build-cli.js).
//
//   node scripts/pack-local.js DIR [--json]
//   cd some-project && npm install DIR/*.tgz      # both at once: no registry needed
//
// Nothing is built here: a missing addon or binary is an error naming the command that builds it.
// The package test (__test__/package.test.js) installs what this writes.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { ROOT, platforms } = require('./platforms')
const { platformId, BIN_NAME } = require('../lib/platform')

/** npm's own CLI script, so npm runs through this node without a shell on every OS. */
function npmCli() {
  const candidates = [
    process.env.npm_execpath,
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'bin', 'npm-cli.js'),
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
  ]
  return candidates.find((c) => c && /npm-cli\.js$/.test(c) && fs.existsSync(c)) ?? null
}

function run(args, cwd, env) {
  const r = spawnSync(process.execPath, args, { cwd, env, encoding: 'utf8' })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`${args.join(' ')} in ${cwd}: exit ${r.status}\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

/**
 * Packs both tarballs into `dest`. Returns { files: the checkout's `npm pack --dry-run` list,
 * main: { file, files }, platform: { name, file, files } }. `env`: the npm children's environment.
 */
function packLocal(dest, { env = process.env } = {}) {
  const npm = npmCli()
  if (!npm) throw new Error('pack-local: npm-cli.js not found next to node')
  const id = platformId()
  const plat = platforms().find((p) => p.abi === id)
  if (!plat) throw new Error(`pack-local: ${id} is not a napi target of this package (package.json napi.targets)`)
  const addon = path.join(ROOT, `pid-guard.${id}.node`)
  const bin = path.join(plat.dir, BIN_NAME)
  if (!fs.existsSync(addon)) throw new Error(`pack-local: ${path.relative(ROOT, addon)} is not built: run npm run build (or npm run build:debug)`)
  if (!fs.existsSync(bin)) throw new Error(`pack-local: ${path.relative(ROOT, bin)} is not built: run node scripts/build-cli.js --release`)

  fs.mkdirSync(dest, { recursive: true })
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'pid-guard-pack-'))
  const pack = (dir) => {
    const [info] = JSON.parse(run([npm, 'pack', '--ignore-scripts', '--json', '--pack-destination', dest], dir, env))
    return { file: path.join(dest, info.filename), files: info.files.map((f) => f.path) }
  }
  try {
    // The main package: exactly the files npm packs from the checkout, then prepare-publish.
    const files = JSON.parse(run([npm, 'pack', '--dry-run', '--json', '--ignore-scripts'], ROOT, env))[0].files.map((f) => f.path)
    const main = path.join(stage, 'main')
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(main, f)), { recursive: true })
      fs.copyFileSync(path.join(ROOT, f), path.join(main, f))
      fs.chmodSync(path.join(main, f), fs.statSync(path.join(ROOT, f)).mode & 0o777)
    }
    run([path.join(__dirname, 'prepare-publish.js'), path.join(main, 'package.json')], ROOT, env)

    // This machine's platform package: its folder, the addon and the executable command.
    const platStage = path.join(stage, `binding-${id}`)
    fs.mkdirSync(platStage)
    for (const f of ['package.json', 'README.md']) fs.copyFileSync(path.join(plat.dir, f), path.join(platStage, f))
    fs.copyFileSync(addon, path.join(platStage, path.basename(addon)))
    fs.copyFileSync(bin, path.join(platStage, BIN_NAME))
    fs.chmodSync(path.join(platStage, BIN_NAME), 0o755)

    return { files, main: pack(main), platform: { name: plat.name, ...pack(platStage) } }
  } finally {
    fs.rmSync(stage, { recursive: true, force: true })
  }
}

module.exports = { packLocal, npmCli }

if (require.main === module) {
  const args = process.argv.slice(2)
  const dir = args.find((a) => !a.startsWith('--'))
  if (!dir) {
    process.stderr.write('Usage: node scripts/pack-local.js DIR [--json]\n')
    process.exit(2)
  }
  try {
    const r = packLocal(path.resolve(dir))
    if (args.includes('--json')) console.log(JSON.stringify(r, null, 2))
    else console.log(`${r.main.file}\n${r.platform.file}`)
  } catch (err) {
    process.stderr.write(`${err.message}\n`)
    process.exit(1)
  }
}
