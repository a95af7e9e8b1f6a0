'use strict'
// pid-guard: only one copy of this service runs, and anyone can ask who holds it.

const { acquire, acquireAsync, status, list, Guard } = require('./lib/guard')
const { stop } = require('./lib/stop')
const { PidGuardError } = require('./lib/errors')
const { toPrometheus } = require('./lib/prometheus')
const { health, healthSync } = require('./lib/health')
const { binding } = require('./lib/native')

const version = binding.version()

module.exports = { acquire, acquireAsync, status, list, stop, Guard, PidGuardError, version, toPrometheus, health, healthSync }
