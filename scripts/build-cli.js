'use strict'
// Builds the native `pid-guard` command (crates/cli) and puts it where this machine's platform
// package carries it: npm/<platform>/pid-guard (pid-guard.exe on Windows). The launcher and the
// tests find it there in a checkout, as they find it in @pid-guard/binding-<platform> once
// installed. `node scripts/build-cli.js [--release]`.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { platformId, BIN_NAME } = require('../lib/platform')

const ROOT = path.join(__dirname, '..')
const release = process.argv.includes('--release')
const args = ['build', '-p', 'pid-guard-cli', ...(release ? ['--release'] : [])]
const r = spawnSync('cargo', args, { cwd: ROOT, stdio: 'inherit' })
if (r.error) throw r.error
if (r.status !== 0) process.exit(r.status ?? 1)

const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target')
const built = path.join(targetDir, release ? 'release' : 'debug', BIN_NAME)
const dest = path.join(ROOT, 'npm', platformId(), BIN_NAME)
// A new file renamed into place: a running copy (a test's `run` holder) keeps its own inode.
const tmp = `${dest}.tmp-${process.pid}`
fs.copyFileSync(built, tmp)
fs.chmodSync(tmp, 0o755)
fs.renameSync(tmp, dest)
process.stderr.write(`pid-guard: built ${path.relative(ROOT, dest)}\n`)
