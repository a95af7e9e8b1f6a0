'use strict'
// PidGuardError: every error a user can hit, with a stable `code`.

class PidGuardError extends Error {
  constructor(info) {
    super(info.message)
    this.name = 'PidGuardError'
    this.code = info.code
    if (info.path !== undefined) this.path = info.path
    if (info.errno !== undefined) this.errno = info.errno
    if (info.holders !== undefined) {
      this.holders = info.holders
      this.holder = info.holders[0]
    }
  }
}

function invalidOption(message) {
  return new PidGuardError({ code: 'EINVALIDOPTION', message: `pid-guard: ${message}` })
}

module.exports = { PidGuardError, invalidOption }
