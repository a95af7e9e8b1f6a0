'use strict'
// npm's `prepare`: build the addon for this machine (napi build --release).
//
// Not under `npm exec` / `npx`: run inside this checkout, npm installs the checkout itself as a
// `file:` dependency in its npx cache and runs this script again, the first time for each cache.
// That was a full release build (minutes on a fresh clone) before the command could even start.
// The checkout's own `npm install` has built the addon already; when it has not, build anyway.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const built = fs.readdirSync(ROOT).some((f) => /^pid-guard\..+\.node$/.test(f))

if (process.env.npm_command === 'exec' && built) {
  process.stderr.write('pid-guard: prepare: the addon is already built; not rebuilding under npm exec / npx\n')
  process.exit(0)
}

const npm = process.env.npm_execpath
const r = npm
  ? spawnSync(process.execPath, [npm, 'run', 'build'], { cwd: ROOT, stdio: 'inherit' })
  : spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit', shell: process.platform === 'win32' })
if (r.error) throw r.error
process.exit(r.status ?? 1)
