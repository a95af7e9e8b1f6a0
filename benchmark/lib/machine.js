'use strict'
// What the numbers were measured on.

const { execFileSync } = require('node:child_process')
const os = require('node:os')

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

function filesystem(dir) {
  const fromFindmnt = sh('findmnt', ['-n', '-o', 'FSTYPE', '-T', dir])
  if (fromFindmnt) return fromFindmnt
  const df = sh('df', ['-T', dir])
  const row = df?.split('\n').pop()?.split(/\s+/)
  return row?.[1] ?? sh('stat', ['-f', '-c', '%T', dir]) ?? 'unknown'
}

function describe(dir) {
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    cpu: os.cpus()[0]?.model?.trim() ?? 'unknown',
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    tmpdir: os.tmpdir(),
    filesystem: filesystem(dir),
    loadavg: os.loadavg().map((l) => l.toFixed(2)).join(' '),
    node: process.version,
    rust: sh('rustc', ['--version']) ?? 'unknown',
  }
}

module.exports = { describe }
