// ESM entry: the same module as index.js.
import pidGuard from './index.js'

export const { acquire, acquireAsync, status, list, stop, Guard, PidGuardError, version, toPrometheus, health, healthSync } = pidGuard
export default pidGuard
