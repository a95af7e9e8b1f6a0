#!/usr/bin/env node
'use strict'
// Run by `npm version` (the "version" script): gives every npm/<platform>/package.json the root
// package's new version, so the platform packages and the root package are always released together.

const path = require('node:path')
const { ROOT, platforms, readJson, writeJson } = require('./platforms')

const { version } = readJson(path.join(ROOT, 'package.json'))
for (const p of platforms()) {
  const file = path.join(p.dir, 'package.json')
  const pkg = readJson(file)
  if (pkg.name !== p.name) throw new Error(`${file}: name is ${pkg.name}, expected ${p.name}`)
  if (pkg.version !== version) {
    pkg.version = version
    writeJson(file, pkg)
    console.log(`${p.name}: ${version}`)
  }
}
