'use strict'
// ESLint (flat config) for the JS layer, the CLI, scripts, benchmarks and tests.
const js = require('@eslint/js')

const node = {
  require: 'readonly', module: 'writable', exports: 'writable', __dirname: 'readonly', __filename: 'readonly',
  process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly',
  setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', clearImmediate: 'readonly',
  queueMicrotask: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', URL: 'readonly',
  TextDecoder: 'readonly', TextEncoder: 'readonly', SharedArrayBuffer: 'readonly', Atomics: 'readonly',
  performance: 'readonly', structuredClone: 'readonly', globalThis: 'readonly', fetch: 'readonly',
  WeakRef: 'readonly', FinalizationRegistry: 'readonly', DOMException: 'readonly', Event: 'readonly', EventTarget: 'readonly',
}

module.exports = [
  { ignores: ['target/**', 'node_modules/**', 'npm/**', 'binding.js', '.tmp/**'] },
  js.configs.recommended,
  {
    files: ['**/*.js', '**/*.cjs', 'bin/pid-guard'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'commonjs', globals: node },
    rules: {
      'no-unused-vars': ['error', { args: 'none', caughtErrors: 'none', ignoreRestSiblings: true }],
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: node },
  },
]
