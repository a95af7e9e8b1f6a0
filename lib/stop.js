'use strict'
// stop(target, options): find the holder, prove who it is, SIGTERM it, wait for it to exit,
// SIGKILL after timeoutMs when `force`. Runs off the main thread.

const { binding, callAsync } = require('./native')
const { invalidOption } = require('./errors')

const STOP_KEYS = new Set(['dir', 'signal', 'timeoutMs', 'force'])

async function stop(target, options = {}) {
  if (options === null || typeof options !== 'object') throw invalidOption('options must be an object')
  for (const k of Object.keys(options)) {
    if (!STOP_KEYS.has(k)) throw invalidOption(`unknown stop option "${k}" (known: ${[...STOP_KEYS].join(', ')})`)
  }
  const args = { dir: options.dir, signal: options.signal, timeoutMs: options.timeoutMs, force: options.force }
  if (typeof target === 'string') args.name = target
  else if (target && typeof target === 'object' && Number.isInteger(target.pid) && target.port === undefined) args.pid = target.pid
  else if (target && typeof target === 'object' && Number.isInteger(target.port) && target.port > 0 && target.port < 65536 && target.pid === undefined) args.port = target.port
  else throw invalidOption('stop(target): target must be a guard name, { pid } or { port }')
  if (args.timeoutMs !== undefined && (typeof args.timeoutMs !== 'number' || !(args.timeoutMs >= 0))) {
    throw invalidOption('options.timeoutMs must be a number of milliseconds >= 0')
  }
  return JSON.parse(await callAsync(() => binding.stopAsync(JSON.stringify(args))))
}

module.exports = { stop }
