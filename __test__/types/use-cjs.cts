// Type test (CommonJS require).
import pg = require('pid-guard')

const g: pg.Guard = pg.acquire('types-cjs')
const st: pg.Status = pg.status('types-cjs')
const code: pg.ErrorCode = 'ELOCKED'
console.log(g.pid, st.state, code, pg.list().length, pg.version)
g.release()

// CommonJS has no default export: index.js exports the functions themselves.
// @ts-expect-error: `default` does not exist on the CommonJS module
console.log(pg.default)
const noBinary: pg.ErrorCode = 'ENOBINARY'
console.log(noBinary)
