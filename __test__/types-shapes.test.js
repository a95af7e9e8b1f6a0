'use strict'
// index.d.ts against what the code really returns: the result objects of real calls (their
// shapes come from the Rust core's serde types and the thin JS layer) must have exactly the
// properties index.d.ts declares, nested objects included. A field added, renamed or dropped on
// one side only fails here. index.d.ts is read with the TypeScript compiler's own parser.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const ts = require('typescript')
const http = require('node:http')
const pg = require('..')
const h = require('./helpers')

const DTS = path.join(__dirname, '..', 'index.d.ts')
const source = ts.createSourceFile(DTS, fs.readFileSync(DTS, 'utf8'), ts.ScriptTarget.Latest, true)

/** interface name -> Map(property -> { optional, type node }) */
const interfaces = new Map()
for (const s of source.statements) {
  if (!ts.isInterfaceDeclaration(s)) continue
  const props = new Map()
  for (const m of s.members) {
    if (ts.isPropertySignature(m) && m.name) props.set(m.name.getText(source), { optional: Boolean(m.questionToken), type: m.type })
  }
  interfaces.set(s.name.text, props)
}

/** The interfaces a declared type refers to (through arrays, unions with null, readonly). */
function referenced(type) {
  if (!type) return []
  if (ts.isTypeReferenceNode(type)) return interfaces.has(type.typeName.getText(source)) ? [type.typeName.getText(source)] : []
  if (ts.isArrayTypeNode(type)) return referenced(type.elementType)
  if (ts.isUnionTypeNode(type)) return type.types.flatMap(referenced)
  if (ts.isTypeOperatorNode(type)) return referenced(type.type)
  if (ts.isParenthesizedTypeNode(type)) return referenced(type.type)
  return []
}

/** Checks `value` against interface `name`, recursing into declared interface-typed fields. */
function check(value, name, where, seen) {
  const props = interfaces.get(name)
  assert.ok(props, `index.d.ts declares interface ${name}`)
  seen.add(name)
  const actual = Object.keys(value)
  const extra = actual.filter((k) => !props.has(k))
  assert.deepEqual(extra, [], `${where}: properties the code returns but ${name} does not declare`)
  const missing = [...props].filter(([k, p]) => !p.optional && !(k in value)).map(([k]) => k)
  assert.deepEqual(missing, [], `${where}: properties ${name} declares but the code does not return`)
  for (const [k, p] of props) {
    const v = value[k]
    if (v === null || v === undefined || typeof v !== 'object') continue
    const [inner] = referenced(p.type)
    if (!inner) continue
    for (const [i, item] of (Array.isArray(v) ? v : [v]).entries()) {
      if (item && typeof item === 'object') check(item, inner, `${where}.${k}${Array.isArray(v) ? `[${i}]` : ''}`, seen)
    }
  }
}

test('status, list, recovered, stop and health results have exactly the shapes index.d.ts declares', async (t) => {
  const dir = h.tmpDir(t)
  const seen = new Set()
  // A stale guard (a recovered entry), a held one with a record and meta, a shared one.
  fs.writeFileSync(path.join(dir, 'old.pid'), '999999\n')
  const g = pg.acquire('old', { dir, meta: { port: 1 } })
  for (const r of g.recovered) check(r, 'Recovered', 'guard.recovered[]', seen)
  check(pg.status('old', { dir }), 'Status', 'status(held)', seen)
  const shared = pg.acquire('pool', { dir, mode: 'shared' })
  for (const s of pg.list({ dir })) check(s, 'Status', `list()[${s.name}]`, seen)
  shared.release()
  check(pg.status('nothing', { dir }), 'Status', 'status(free)', seen)

  // Health of a live holder with an endpoint, its port and expectations.
  const server = http.createServer((req, res) => res.end(JSON.stringify({ ok: true })))
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => server.close())
  const port = server.address().port
  g.update({ port, url: `http://127.0.0.1:${port}/` })
  check(await pg.health('old', { dir, sampleMs: 50, expect: { ok: true } }), 'Health', 'health(name)', seen)
  check(pg.healthSync({ pid: process.pid }), 'Health', 'healthSync({pid})', seen)
  g.release()

  // A stop report, of a holder this test started.
  const held = await h.hold(t, { name: 'victim', dir })
  check(await pg.stop('victim', { dir, timeoutMs: 10000 }), 'StopReport', 'stop(name)', seen)
  await h.waitExit(held)

  t.diagnostic(`interfaces checked: ${[...seen].sort().join(', ')}`)
  for (const name of ['Status', 'Holder', 'HolderRecord', 'PidFileInfo', 'Recovered', 'Health', 'StopReport']) {
    assert.ok(seen.has(name), `${name} was checked against a real value`)
  }
})
