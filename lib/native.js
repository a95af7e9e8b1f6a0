'use strict'
// Loads the native addon and turns its JSON-encoded errors into PidGuardError.

const { PidGuardError } = require('./errors')
const { noBinaryMessage } = require('./platform')

let binding
try {
  binding = require('../binding.js')
} catch (err) {
  const e = new PidGuardError({
    code: 'ENOBINARY',
    message: noBinaryMessage('the addon', err.message.split('\n')[0]),
  })
  e.cause = err
  throw e // node-do-not-add-exception-line
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
    if (info.holders) e.holders = info.holders.map(normalizeHolder)
    return e
  }
  return err
}

/** Calls into the addon; a core error arrives as JSON in the message. */
function call(fn) {
  try {
    return fn()
  } catch (err) {
    // The marker keeps Node from printing this line's source above an uncaught error.
    throw convert(err) // node-do-not-add-exception-line
  }
}

/** The same for calls that return a Promise. */
async function callAsync(fn) {
  try {
    return await fn()
  } catch (err) {
    throw convert(err) // node-do-not-add-exception-line
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
