// ESM entry: the same module as index.js.
import pidGuard from './index.js'

export const { acquire, status, list, Guard, PidGuardError, version, toPrometheus } = pidGuard
export default pidGuard
