'use strict'
// Builds the native `pid-guard` command (crates/cli) and puts it where the platform package
// carries it: npm/<platform>/pid-guard (pid-guard.exe on Windows). The launcher and the tests find
// it there in a checkout, as they find it in @pid-guard/binding-<platform> once installed.
//
//   node scripts/build-cli.js [--release] [--target TRIPLE[.GLIBC]] [-x]
//
// With no --target: this machine's platform. --target takes CI's napi build target spelling:
// a napi target triple, optionally with cargo-zigbuild's glibc suffix (x86_64-unknown-linux-gnu.2.17);
// -x builds with cargo-zigbuild, as `napi build -x` does.

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { platformId, BIN_NAME } = require('../lib/platform')
const { TRIPLES } = require('./platforms')

const ROOT = path.join(__dirname, '..')
const argv = process.argv.slice(2)
const release = argv.includes('--release')
const zig = argv.includes('-x') || argv.includes('--cross-compile')
const t = argv.indexOf('--target')
const target = t === -1 ? null : argv[t + 1]
if (t !== -1 && !target) throw new Error('build-cli.js: --target needs a triple')
const triple = target?.replace(/\.\d+\.\d+$/, '') ?? null // cargo-zigbuild's .2.17 glibc suffix
const abi = triple ? TRIPLES[triple] : platformId()
if (!abi) throw new Error(`build-cli.js: ${triple} is not a napi target of this package (scripts/platforms.js TRIPLES)`)
const binName = triple ? (triple.includes('windows') ? 'pid-guard.exe' : 'pid-guard') : BIN_NAME

const args = [zig ? 'zigbuild' : 'build', '-p', 'pid-guard-cli', ...(release ? ['--release'] : []), ...(target ? ['--target', target] : [])]
const r = spawnSync('cargo', args, { cwd: ROOT, stdio: 'inherit' })
if (r.error) throw r.error
if (r.status !== 0) process.exit(r.status ?? 1)

const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target')
const built = path.join(targetDir, ...(triple ? [triple] : []), release ? 'release' : 'debug', binName)
const dest = path.join(ROOT, 'npm', abi, binName)
// A new file renamed into place: a running copy (a test's `run` holder) keeps its own inode.
const tmp = `${dest}.tmp-${process.pid}`
fs.copyFileSync(built, tmp)
fs.chmodSync(tmp, 0o755)
fs.renameSync(tmp, dest)
process.stderr.write(`pid-guard: built ${path.relative(ROOT, dest)} (${fs.statSync(dest).size} bytes)\n`)
