#!/usr/bin/env node
'use strict'
// Publish step: turns a package.json (default: the root one) into the one users install.
//
//   node scripts/prepare-publish.js [path/to/package.json]
//
// - writes "optionalDependencies": every @pid-guard/binding-<platform> package, pinned to this
//   exact version, so `npm install pid-guard` pulls the one binary of the user's machine. They are
//   not kept in the committed package.json: before a release the platform packages do not exist on
//   the registry, the lock file cannot list them, and `npm ci` then fails ("package.json and
//   package-lock.json are not in sync").
// - drops the "prepare" script: it builds the addon from source for people working in a clone.
//   npm never runs it for a registry install, but npm 11 warns about it to every user as an
//   install script ("install scripts not yet covered by allowScripts").
//
// Refuses when an npm/<platform> folder is missing or has another version (`npm version` keeps
// them in step through the "version" script).
//
//   node scripts/prepare-publish.js --binaries ARTIFACTS
//
// The other publish step: puts each platform's `pid-guard` command (pid-guard.exe on Windows),
// which CI's build job for that target uploaded as ARTIFACTS/bindings-<triple>/npm/<platform>/,
// into npm/<platform>/, executable (artifacts do not keep the mode). Refuses if one is missing:
// a platform package without its command would leave the launcher with nothing to run.

const fs = require('node:fs')
const path = require('node:path')
const { ROOT, platforms, readJson, writeJson } = require('./platforms')

const b = process.argv.indexOf('--binaries')
if (b !== -1) {
  const artifacts = path.resolve(process.argv[b + 1] ?? 'artifacts')
  for (const p of platforms()) {
    const name = p.triple.includes('windows') ? 'pid-guard.exe' : 'pid-guard'
    const from = path.join(artifacts, `bindings-${p.triple}`, 'npm', p.abi, name)
    if (!fs.existsSync(from)) throw new Error(`${from}: missing; the build job for ${p.triple} uploads it (scripts/build-cli.js --target)`)
    const to = path.join(p.dir, name)
    fs.copyFileSync(from, to)
    fs.chmodSync(to, 0o755)
    console.log(`${path.relative(ROOT, to)}: ${fs.statSync(to).size} bytes`)
  }
  process.exit(0)
}

const target = path.resolve(process.argv[2] ?? path.join(ROOT, 'package.json'))
const pkg = readJson(target)
const deps = { ...pkg.optionalDependencies }
for (const p of platforms()) {
  let sub
  try {
    sub = readJson(path.join(p.dir, 'package.json'))
  } catch (err) {
    throw new Error(`${p.dir}: no platform package (${err.code ?? err.message}); run npx napi create-npm-dirs`, { cause: err })
  }
  if (sub.name !== p.name || sub.version !== pkg.version) {
    throw new Error(
      `${p.dir}/package.json is ${sub.name}@${sub.version}, expected ${p.name}@${pkg.version}; run node scripts/sync-version.js`,
    )
  }
  deps[p.name] = pkg.version
}
pkg.optionalDependencies = deps
if (pkg.scripts) delete pkg.scripts.prepare
writeJson(target, pkg)
console.log(`${target}: optionalDependencies ${Object.keys(deps).join(', ')} @ ${pkg.version}; no prepare script`)
