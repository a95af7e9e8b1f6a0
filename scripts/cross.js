'use strict'
// Cross-target helpers shared by the lint (clippy for every target) and the Windows test run.

const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')

/**
 * napi-build looks for libnode when targeting windows-gnu, even with `dyn-symbols` (the addon
 * resolves Node's symbols at load time): an empty import library and an empty dll satisfy it.
 * Returns the folder to put in LIBNODE_PATH.
 */
function fakeLibnode() {
  const dir = path.join(ROOT, 'target', 'lint-libnode')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, 'libnode.a'), '!<arch>\n')
  fs.writeFileSync(path.join(dir, 'libnode.dll'), '')
  return dir
}

module.exports = { ROOT, fakeLibnode }
