'use strict'
// pid-guard: only one copy of this service runs, and anyone can ask who holds it.

const { acquire, status, list, Guard } = require('./lib/guard')
const { PidGuardError } = require('./lib/errors')
const { toPrometheus } = require('./lib/prometheus')
const { binding } = require('./lib/native')

const version = binding.version()

module.exports = { acquire, status, list, Guard, PidGuardError, version, toPrometheus }
