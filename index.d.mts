// Types for the ESM entry (index.mjs): the same named exports as the CommonJS entry, plus a
// default export that is the whole module, as index.mjs has and index.js does not.
import * as pidGuard from './index.js'

export * from './index.js'
export default pidGuard
