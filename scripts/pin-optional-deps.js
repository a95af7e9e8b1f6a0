#!/usr/bin/env node
'use strict'
// Publish step: writes "optionalDependencies" into a package.json (default: the root one) so that
// `npm install pid-guard` pulls exactly the platform package of the user's machine, pinned to the
// same version. It is not kept in the committed package.json because the platform packages do not
// exist on the registry before the first release, and a lock file that cannot list them makes
// `npm ci` fail ("package.json and package-lock.json are not in sync").
//
//   node scripts/pin-optional-deps.js [path/to/package.json]
//
// Refuses when an npm/<platform> folder is missing or its version differs (run `npm version`,
// whose "version" script keeps them in step).

const path = require('node:path')
const { ROOT, platforms, readJson, writeJson } = require('./platforms')

const target = path.resolve(process.argv[2] ?? path.join(ROOT, 'package.json'))
const pkg = readJson(target)
const deps = { ...pkg.optionalDependencies }
for (const p of platforms()) {
  let sub
  try {
    sub = readJson(path.join(p.dir, 'package.json'))
  } catch (err) {
    throw new Error(`${p.dir}: no platform package (${err.code ?? err.message}); run npx napi create-npm-dirs`)
  }
  if (sub.name !== p.name || sub.version !== pkg.version) {
    throw new Error(`${p.dir}/package.json is ${sub.name}@${sub.version}, expected ${p.name}@${pkg.version}; run node scripts/sync-version.js`)
  }
  deps[p.name] = pkg.version
}
pkg.optionalDependencies = deps
writeJson(target, pkg)
console.log(`${target}: optionalDependencies ${Object.keys(deps).join(', ')} @ ${pkg.version}`)
