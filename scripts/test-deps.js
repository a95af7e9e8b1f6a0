#!/usr/bin/env node
'use strict'
// Test-only dependencies that npm cannot bring, installed by the test setup itself (`pretest`),
// so `npm install && npm test` pass on a fresh machine with nothing installed by hand.
//
// - prometheus_client (PyPI, pinned): the reference parser of the Prometheus text format, which
//   the tests read `toPrometheus` / `health --prometheus` output back with. Installed with pip
//   --target into node_modules/.cache (outside git, removed with node_modules), never into the
//   system Python.
//
// Idempotent and safe to race: each install goes to a private folder that is renamed into place.
// `pythonPath()` is what tests put in PYTHONPATH.

const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const PROMETHEUS_CLIENT = 'prometheus-client==0.21.1'
const ROOT = path.join(__dirname, '..', 'node_modules', '.cache', 'pid-guard-test')
const PY = path.join(ROOT, 'python-' + PROMETHEUS_CLIENT.replace(/[^a-z0-9.]+/gi, '-'))

function pythonPath() {
  return PY
}

function installed() {
  try {
    execFileSync('python3', ['-c', 'import prometheus_client'], {
      env: { ...process.env, PYTHONPATH: PY },
      stdio: 'ignore',
    })
    return true
  } catch {
    return false
  }
}

function ensure({ quiet = false } = {}) {
  if (installed()) return PY
  fs.mkdirSync(ROOT, { recursive: true })
  const tmp = `${PY}.tmp${process.pid}`
  fs.rmSync(tmp, { recursive: true, force: true })
  if (!quiet) process.stderr.write(`test setup: installing ${PROMETHEUS_CLIENT} into ${path.relative(process.cwd(), PY)}\n`)
  execFileSync(
    'python3',
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--target', tmp, PROMETHEUS_CLIENT],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } },
  )
  try {
    fs.renameSync(tmp, PY)
  } catch (err) {
    // Another setup got there first: its copy is as good as ours.
    fs.rmSync(tmp, { recursive: true, force: true })
    if (!installed()) throw err
  }
  return PY
}

module.exports = { ensure, pythonPath }

if (require.main === module) ensure()
