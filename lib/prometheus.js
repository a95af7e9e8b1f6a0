'use strict'
// toPrometheus(health | health[]): the Prometheus text exposition format (version 0.0.4), as
// the core renders it (src/health/prometheus.rs), the same text `pid-guard health --prometheus`
// prints. The results cross as JSON; `undefined` crosses as nothing, so the error can say so.

const { binding, call } = require('./native')

/**
 * Renders one health result or an array of them as Prometheus text exposition format.
 * @param {object|object[]} input
 * @returns {string}
 */
function toPrometheus(input) {
  return call(() => binding.toPrometheus(JSON.stringify(input)))
}

module.exports = { toPrometheus }
