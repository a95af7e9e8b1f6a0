'use strict'
// pid-guard: only one copy of this service runs, and anyone can ask who holds it.

const { acquire, acquireAsync, status, list, Guard } = require('./lib/guard')
const { PidGuardError } = require('./lib/errors')
const { binding } = require('./lib/native')

const version = binding.version()

module.exports = { acquire, acquireAsync, status, list, Guard, PidGuardError, version }

/** Loaded on first use: a service that only takes its guard never pays for health and stop. */
function lazy(name, load) {
  Object.defineProperty(module.exports, name, {
    enumerable: true,
    configurable: true,
    get() {
      const value = load()
      Object.defineProperty(module.exports, name, { value, enumerable: true })
      return value
    },
  })
}

lazy('stop', () => require('./lib/stop').stop)
lazy('health', () => require('./lib/health').health)
lazy('healthSync', () => require('./lib/health').healthSync)
lazy('toPrometheus', () => require('./lib/prometheus').toPrometheus)
