'use strict'
// Every code block in README.md is run, so the docs cannot rot.
//
// - ```js / ```javascript / ```mjs: written to a temp dir (where `require('pid-guard')` and
//   `import ... from 'pid-guard'` resolve to this checkout) and run with node, PID_GUARD_DIR set to
//   a fresh temp dir. A block with top-level import/export runs as ESM. It must exit 0 in time.
// - ```sh / ```bash / ```shell whose first command is `pid-guard ...` or `npx pid-guard ...`: every
//   command runs through the local launcher, bin/pid-guard, and so the native command (same PID_GUARD_DIR rules). Exit 0, 1 and 3 are the
//   documented outcomes; 2 (usage error: the docs no longer match the CLI) or a crash fails.
//   Other shell blocks (npm install, systemd, docker, ...) are not run.
// - ```text, ``` (no language) and other languages are output or config: not run.
// - A block preceded by `<!-- not-run: reason -->` is skipped, and reported with its reason.

const { describe, it, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const ROOT = path.join(__dirname, '..')
const README = path.join(ROOT, 'README.md')
const CLI = path.join(ROOT, 'bin', 'pid-guard') // the launcher, in front of the native command
const TIMEOUT = 15000
const JS = new Set(['js', 'javascript', 'mjs', 'cjs'])
const SH = new Set(['sh', 'bash', 'shell', 'console'])

/** Fenced blocks: { line (1-based, of the opening fence), lang, code, notRun (reason or null) }. */
function codeBlocks(markdown) {
  const lines = markdown.split(/\r?\n/)
  const blocks = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i])
    if (!open) continue
    const fence = open[2]
    const lang = open[3].toLowerCase()
    const body = []
    let j = i + 1
    const close = new RegExp(`^ {0,3}\\${fence[0]}{${fence.length},}\\s*$`)
    while (j < lines.length && !close.test(lines[j])) {
      body.push(lines[j])
      j++
    }
    let k = i - 1
    while (k >= 0 && lines[k].trim() === '') k--
    const marker = k >= 0 ? /^\s*<!--\s*not-run:\s*(.*?)\s*-->\s*$/.exec(lines[k]) : null
    blocks.push({ line: i + 1, lang, code: body.join('\n'), notRun: marker ? marker[1] || 'no reason given' : null })
    i = j
  }
  return blocks
}

/** Splits one shell command line into words (quotes and backslashes as sh does, no expansion). */
function shellWords(line) {
  const words = []
  let word = null
  let quote = null
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (quote === "'") {
      if (c === "'") quote = null
      else word += c
    } else if (quote === '"') {
      if (c === '"') quote = null
      else if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) word += line[++i]
      else word += c
    } else if (c === "'" || c === '"') {
      quote = c
      word ??= ''
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i]
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word)
      word = null
    } else if (c === '#' && word === null) {
      break
    } else {
      word = (word ?? '') + c
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote`)
  if (word !== null) words.push(word)
  return words
}

/** The commands of a shell block: continuation lines joined, `$ ` prompts and comments dropped. */
function shellCommands(code) {
  const out = []
  let pending = ''
  for (const raw of code.split('\n')) {
    const line = raw.replace(/^\s*\$\s+/, '')
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' '
      continue
    }
    const full = (pending + line).trim()
    pending = ''
    if (full && !full.startsWith('#')) out.push(full)
  }
  return out
}

/** A pid-guard command line as { env, args } for cli.js, or a reason it cannot be run. */
function pidGuardCommand(cmd) {
  if (/[|&;<>`]|\$\(/.test(cmd.replace(/'[^']*'|"[^"]*"/g, '').replace(/#.*$/, ''))) {
    return { error: 'uses shell syntax (pipes, redirections, &&, ;, $(...)) that this test does not run' }
  }
  const words = shellWords(cmd)
  const env = {}
  while (words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0])) {
    const w = words.shift()
    env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1)
  }
  if (words[0] === 'npx') {
    words.shift()
    while (words[0]?.startsWith('-')) words.shift() // --no-install, -y, ...
  }
  if (words[0] !== 'pid-guard') return { error: `is not a pid-guard command: ${cmd}` }
  return { env, args: words.slice(1) }
}

/** The first command of a shell block is a pid-guard one: the block is runnable. */
function isPidGuardBlock(code) {
  const [first] = shellCommands(code)
  return first !== undefined && !pidGuardCommand(first).error
}

/** Why a block is not run, or null when it is. */
function skipReason(b) {
  if (b.notRun) return `not-run: ${b.notRun}`
  if (JS.has(b.lang)) return null
  if (SH.has(b.lang)) return isPidGuardBlock(b.code) ? null : 'shell block that does not start with pid-guard'
  return b.lang ? `${b.lang} block (output or config)` : 'output block'
}

const blocks = codeBlocks(fs.readFileSync(README, 'utf8'))

// Under Wine the junction to this checkout cannot be made (ENOTSUP).
describe('README.md code blocks run', { skip: require('./helpers').wineGap('symlink') }, () => {
  let tmp

  before(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pg-readme-')))
    // `require('pid-guard')` / `import 'pid-guard'` from a block resolve to this checkout.
    fs.mkdirSync(path.join(tmp, 'node_modules'))
    fs.symlinkSync(ROOT, path.join(tmp, 'node_modules', 'pid-guard'), process.platform === 'win32' ? 'junction' : 'dir')
  })

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
  })

  /** A fresh PID_GUARD_DIR (0700) for one block. */
  function guardDir() {
    const dir = fs.mkdtempSync(path.join(tmp, 'guards-'))
    fs.chmodSync(dir, 0o700)
    return dir
  }

  function run(args, env, what) {
    const r = spawnSync(process.execPath, args, { cwd: tmp, env: { ...process.env, ...env }, encoding: 'utf8', timeout: TIMEOUT })
    if (r.error?.code === 'ETIMEDOUT') {
      assert.fail(`${what} did not finish in ${TIMEOUT} ms (a server or --watch?): make it end, or mark it <!-- not-run: reason -->\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
    }
    if (r.error) throw r.error
    return r
  }

  it('README.md has runnable blocks', () => {
    assert.ok(blocks.filter((b) => !skipReason(b)).length > 0, 'no runnable code block found: is the extractor broken?')
  })

  // Blocks that are not run (output, config, other tools' commands, `not-run` ones) are listed
  // with their reason, not reported as skipped tests: nothing is missing for them.
  it('blocks that are not run are output, config or say why', (t) => {
    for (const b of blocks.filter((x) => skipReason(x))) t.diagnostic(`README.md:${b.line} not run: ${skipReason(b)}`)
    const unexplained = blocks.filter((b) => skipReason(b)?.startsWith('not-run') && skipReason(b).trim() === 'not-run:')
    assert.deepEqual(unexplained.map((b) => b.line), [])
  })

  for (const b of blocks.filter((x) => !skipReason(x))) {
    const name = `README.md:${b.line} (${b.lang || 'no language'})`
    it(name, () => {
      const env = { PID_GUARD_DIR: guardDir() }
      if (JS.has(b.lang)) {
        const esm = b.lang === 'mjs' || /^\s*(import\s[^(]|import\s*['"{*]|export\s)/m.test(b.code)
        const file = path.join(tmp, `readme-${b.line}.${esm ? 'mjs' : 'cjs'}`)
        fs.writeFileSync(file, b.code + '\n')
        const r = run([file], env, name)
        assert.equal(r.status, 0, `${name} exited ${r.status} ${r.signal ?? ''}\n--- code ---\n${b.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`)
        return
      }
      for (const cmd of shellCommands(b.code)) {
        const parsed = pidGuardCommand(cmd)
        if (parsed.error) assert.fail(`${name}: "${cmd}" ${parsed.error}; mark the block <!-- not-run: reason --> or split it`)
        const r = run([CLI, ...parsed.args], { ...env, ...parsed.env }, `${name}: ${cmd}`)
        const out = `\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`
        assert.notEqual(r.status, 2, `${name}: "${cmd}" is a usage error: the README no longer matches the CLI${out}`)
        assert.ok([0, 1, 3].includes(r.status), `${name}: "${cmd}" exited ${r.status} ${r.signal ?? ''}${out}`)
        assert.doesNotMatch(r.stderr, /unexpected error/, `${name}: "${cmd}" crashed${out}`)
      }
    })
  }
})

describe('the README block extractor', () => {
  it('finds fences, languages, not-run markers and output blocks', () => {
    const md = [
      'text',
      '```js',
      "console.log('a')",
      '```',
      '<!-- not-run: starts a server -->',
      '```sh',
      'pid-guard run -- node server.js',
      '```',
      '',
      '````',
      '```js',
      'inner',
      '````',
      '```sh',
      '$ npx --no-install pid-guard status web --json   # who holds it',
      'pid-guard list \\',
      '  --dir "/tmp/a b"',
      '```',
    ].join('\n')
    const got = codeBlocks(md)
    assert.deepEqual(
      got.map((b) => [b.line, b.lang, b.notRun]),
      [
        [2, 'js', null],
        [6, 'sh', 'starts a server'],
        [10, '', null],
        [14, 'sh', null],
      ],
    )
    assert.equal(got[2].code, '```js\ninner')
    assert.deepEqual(skipReason(got[2]), 'output block')
    assert.match(skipReason(got[1]), /^not-run/)
    assert.deepEqual(shellCommands(got[3].code).map(pidGuardCommand), [
      { env: {}, args: ['status', 'web', '--json'] },
      { env: {}, args: ['list', '--dir', '/tmp/a b'] },
    ])
  })

  it('refuses shell syntax it cannot run and non-pid-guard commands', () => {
    assert.match(pidGuardCommand('pid-guard status web | jq .pid').error, /shell syntax/)
    assert.match(pidGuardCommand('pid-guard check web && npm start').error, /shell syntax/)
    assert.match(pidGuardCommand('npm start').error, /not a pid-guard command/)
    assert.deepEqual(pidGuardCommand("PID_GUARD_DIR=/x pid-guard status 'a b'"), { env: { PID_GUARD_DIR: '/x' }, args: ['status', 'a b'] })
    assert.equal(isPidGuardBlock('npm install\nnpm test'), false)
  })
})

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function slug(heading) {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
}

describe('README.md links', () => {
  it('every #anchor names a heading', () => {
    const md = fs.readFileSync(README, 'utf8').replace(/```[\s\S]*?```/g, '')
    const anchors = new Set(md.split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => slug(l.replace(/^#+ /, ''))))
    const broken = [...md.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]).filter((a) => !anchors.has(a))
    assert.deepEqual(broken, [])
  })

  it('relative links name files of this checkout', () => {
    const md = fs.readFileSync(README, 'utf8')
    const missing = [...md.matchAll(/\]\((?!https?:|#|mailto:)([^)#\s]+)/g)].map((m) => m[1]).filter((f) => !fs.existsSync(path.join(ROOT, f)))
    assert.deepEqual(missing, [])
  })
})
