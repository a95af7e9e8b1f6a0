'use strict'
// Loads the native addon and turns its JSON-encoded errors into PidGuardError.

const { PidGuardError } = require('./errors')

let binding
try {
  binding = require('../binding.js')
} catch (err) {
  const platform = `${process.platform}-${process.arch}`
  const e = new Error(
    `pid-guard: no native binary for ${platform} could be loaded (${err.message.split('\n')[0]}).\n` +
      `It ships in an optional dependency named like @pid-guard/binding-${platform}-*. ` +
      'Reinstall without --omit=optional / --no-optional, or delete node_modules and package-lock.json and run npm install again. ' +
      'Supported: linux x64/arm64 (glibc, musl), macOS x64/arm64, Windows x64.',
  )
  e.code = 'ENOBINARY'
  e.cause = err
  throw e
}

/** Rebuilds a core error (JSON in the message) as a PidGuardError; others pass through. */
function convert(err) {
  if (typeof err?.message === 'string' && err.message.startsWith('{"code":')) {
    let info
    try {
      info = JSON.parse(err.message)
    } catch {
      return err
    }
    const e = new PidGuardError(info)
    if (info.holders) e.holders = e.holders.map(normalizeHolder)
    if (e.holders) e.holder = e.holders[0]
    return e
  }
  return err
}

/** Calls into the addon; a core error arrives as JSON in the message. */
function call(fn) {
  try {
    return fn()
  } catch (err) {
    throw convert(err)
  }
}

/** The same for calls that return a Promise. */
async function callAsync(fn) {
  try {
    return await fn()
  } catch (err) {
    throw convert(err)
  }
}

/** A holder as the API shows it: the recorded meta lifted to the top. */
function normalizeHolder(h) {
  h.meta = h.record ? h.record.meta : null
  return h
}

function normalizeStatus(s) {
  s.holders = s.holders.map(normalizeHolder)
  return s
}

module.exports = { binding, call, callAsync, normalizeHolder, normalizeStatus }
