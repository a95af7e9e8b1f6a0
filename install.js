'use strict'
// npm's postinstall for pid-guard: on Linux and macOS, put the native `pid-guard` binary in place
// of the JS launcher bin/pid-guard (the file package.json "bin" names, which npm links as
// node_modules/.bin/pid-guard), so the command starts with no Node process in between: a health
// probe costs milliseconds, `run` leaves no wrapper. esbuild does the same.
//
// It never fails the install. Whenever it cannot do this safely it leaves the launcher, which
// finds and runs the same binary through node, and prints one line saying why:
// - Windows: npm's .cmd shims start the bin with node, so it must stay JavaScript.
// - Yarn and pnpm: their bin shims are scripts that run `node <file>` (decided by the file's
//   shebang when they are written), so a binary there would be run by node as JavaScript; Yarn
//   may also run this in the same folder for another platform (a mounted node_modules).
// - this is not an installed copy (a checkout being developed: `npm install` in it runs this
//   too), or the platform package is missing (--omit=optional, an unsupported platform), or its
//   binary does not answer `--version` with this package's version.
// The replacement is a copy into a temp file in bin/, made executable, checked, then renamed
// over the launcher, so bin/pid-guard is always one whole file or the other. Running it again
// (npm rebuild) is harmless: the binary is checked and copied again.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { platformId, BIN_NAME } = require('./lib/platform')

const VERSION = require('./package.json').version
const LAUNCHER = path.join(__dirname, 'bin', 'pid-guard')

/** Why the launcher must stay, or null when the binary can replace it. */
function reasonToKeep() {
  if (process.platform === 'win32') return 'Windows runs package bins through node (.cmd shims)'
  const agent = process.env.npm_config_user_agent ?? ''
  if (/\b(yarn|pnpm)\//.test(agent)) return `${agent.split(' ')[0]} runs package bins through node shims`
  const parent = path.basename(path.dirname(__dirname))
  const grand = path.basename(path.dirname(path.dirname(__dirname)))
  if (parent !== 'node_modules' && !(parent.startsWith('@') && grand === 'node_modules')) {
    return 'not installed under node_modules (a checkout of pid-guard)'
  }
  return null
}

/** The platform package's binary, checked to run and to be this version. */
function checkedBinary() {
  const id = platformId()
  let dir
  try {
    dir = path.dirname(require.resolve(`@pid-guard/binding-${id}/package.json`, { paths: [__dirname] }))
  } catch {
    throw new Error(`@pid-guard/binding-${id} is not installed`)
  }
  const bin = path.join(dir, BIN_NAME)
  const env = { ...process.env }
  delete env.PID_GUARD_LAUNCHER
  const out = execFileSync(bin, ['--version'], { env, encoding: 'utf8', timeout: 10000, stdio: ['ignore', 'pipe', 'pipe'] })
  const got = out.trim().split(' ')[0]
  if (got !== VERSION) throw new Error(`${bin} --version says ${JSON.stringify(out.trim())}, expected ${VERSION}`)
  return bin
}

function install() {
  const keep = reasonToKeep()
  if (keep) return `pid-guard: the command runs through its node launcher: ${keep}`
  let bin
  try {
    bin = checkedBinary()
  } catch (err) {
    return `pid-guard: the command runs through its node launcher: ${err.message.split('\n')[0]}`
  }
  const tmp = path.join(path.dirname(LAUNCHER), `.pid-guard.tmp-${process.pid}`)
  try {
    fs.copyFileSync(bin, tmp)
    fs.chmodSync(tmp, 0o755)
    execFileSync(tmp, ['--version'], { stdio: 'ignore', timeout: 10000 }) // the copy runs too (noexec mounts)
    fs.renameSync(tmp, LAUNCHER)
  } catch (err) {
    fs.rmSync(tmp, { force: true })
    return `pid-guard: the command runs through its node launcher: could not put the binary in place (${err.message.split('\n')[0]})`
  }
  return null
}

try {
  const why = install()
  if (why) process.stderr.write(`${why}\n`)
} catch (err) {
  process.stderr.write(`pid-guard: install step skipped: ${err.message}\n`)
}
