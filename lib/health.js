'use strict'
// health / healthSync: the whole check runs in the Rust core (src/health), for this API and the
// native CLI alike: option checks, guard-name lookup, recorded meta, orphans and strays, the
// children filter, the endpoint probe (http and https) and expectations. Here the arguments
// become JSON and the answer is parsed; health() runs on a thread of the addon's own.

const { binding, call, callAsync } = require('./native')

/** A JS value JSON cannot carry, sent so that the core's message names what was given. */
function nonJson(v) {
  return { $nonJson: typeof v, text: String(v) }
}

/**
 * JSON of a target or options object: a RegExp becomes { regex, flags }; undefined, functions,
 * symbols, bigints, NaN and Infinity become { $nonJson, text } (JSON.stringify would drop them
 * or make them null, and the core would then report another mistake than the one made).
 */
function toJson(value) {
  return JSON.stringify(value, function replace(key, v) {
    const raw = this[key]
    if (raw instanceof RegExp) return { regex: raw.source, flags: raw.flags }
    if (raw === undefined || typeof raw === 'function' || typeof raw === 'symbol' || typeof raw === 'bigint') return nonJson(raw)
    if (typeof raw === 'number' && !Number.isFinite(raw)) return nonJson(raw)
    return v
  })
}

/**
 * Health of a guard's holder, a pid or whoever listens on a port: process figures, CPU over
 * `sampleMs`, listening ports, descendants and the health endpoint. Never blocks the event loop.
 */
async function health(target, options) {
  const args = [toJson(target), toJson(options ?? null)]
  return JSON.parse(await callAsync(() => call(() => binding.health(...args))))
}

/**
 * The parts of {@link health} that need no waiting: no CPU window (`cpuPercent` is null) and no
 * endpoint probe (`endpoint` is null).
 */
function healthSync(target, options) {
  return JSON.parse(call(() => binding.healthSync(toJson(target), toJson(options ?? null))))
}

module.exports = { health, healthSync }
