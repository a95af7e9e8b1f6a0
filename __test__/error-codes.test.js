'use strict'
// Every error code a user can get is declared once per layer and the layers agree: the Rust
// core's codes (src/error.rs), the ones the JS layer raises itself, index.d.ts's ErrorCode union
// and the README's table. A code added in one place and forgotten in another fails here.

const { test } = require('node:test')
const assert = require('node:assert')
const fs = require('node:fs')
const path = require('node:path')
const { ROOT } = require('./helpers')

const read = (f) => fs.readFileSync(path.join(ROOT, f), 'utf8')

function rustCodes() {
  return [...read('src/error.rs').matchAll(/#\[serde\(rename = "(E[A-Z]+)"\)\]/g)].map((m) => m[1])
}

function jsCodes() {
  const files = ['bin/pid-guard', 'install.js', ...fs.readdirSync(path.join(ROOT, 'lib')).filter((f) => f.endsWith('.js')).map((f) => `lib/${f}`)]
  return files.flatMap((f) => [...read(f).matchAll(/code: '(E[A-Z]+)'/g)].map((m) => m[1]))
}

function declaredCodes() {
  const union = read('index.d.ts').match(/export type ErrorCode =([\s\S]*?)\n\n/)
  assert.ok(union, 'index.d.ts declares ErrorCode')
  return [...union[1].matchAll(/\| '(E[A-Z]+)'/g)].map((m) => m[1])
}

const sorted = (a) => [...new Set(a)].sort()

test('index.d.ts ErrorCode lists exactly the codes the core and the JS layer raise', () => {
  const raised = sorted([...rustCodes(), ...jsCodes()])
  assert.ok(raised.includes('ELOCKED') && raised.includes('ENOBINARY'), raised.join(' '))
  assert.deepStrictEqual(sorted(declaredCodes()), raised)
})

test("the README's error table documents every code", () => {
  // Codes named in the first column of a table row: | `EA` / `EB` | ... | or | `EA`, `EB` | ... |
  const documented = read('README.md').split('\n').filter((l) => l.startsWith('| `E'))
    .flatMap((l) => [...l.split('|')[1].matchAll(/`(E[A-Z]+)`/g)].map((m) => m[1]))
  const missing = sorted([...rustCodes(), ...jsCodes()]).filter((c) => !documented.includes(c))
  assert.deepStrictEqual(missing, [])
})
