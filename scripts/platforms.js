'use strict'
// The per-platform binary packages under npm/, as napi-rs lays them out: one folder per entry of
// package.json "napi.targets", named by its platform-arch-abi (linux-x64-gnu, win32-x64-msvc, ...),
// published as <napi.packageName>-<folder> (@pid-guard/binding-linux-x64-gnu, ...).

const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')

/** Rust target triple -> napi-rs platform-arch-abi folder name (the targets this package ships). */
const TRIPLES = {
  'x86_64-unknown-linux-gnu': 'linux-x64-gnu',
  'x86_64-unknown-linux-musl': 'linux-x64-musl',
  'aarch64-unknown-linux-gnu': 'linux-arm64-gnu',
  'aarch64-unknown-linux-musl': 'linux-arm64-musl',
  'x86_64-apple-darwin': 'darwin-x64',
  'aarch64-apple-darwin': 'darwin-arm64',
  'x86_64-pc-windows-msvc': 'win32-x64-msvc',
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'))
}

function writeJson(file, value) {
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n')
}

/** [{ triple, abi, dir, name }] for every napi target of the package at `root`. */
function platforms(root = ROOT) {
  const pkg = readJson(path.join(root, 'package.json'))
  return pkg.napi.targets.map((triple) => {
    const abi = TRIPLES[triple]
    if (!abi) throw new Error(`scripts/platforms.js: no npm folder name known for napi target ${triple}; add it to TRIPLES`)
    return { triple, abi, dir: path.join(ROOT, 'npm', abi), name: `${pkg.napi.packageName}-${abi}` }
  })
}

module.exports = { ROOT, TRIPLES, platforms, readJson, writeJson }
