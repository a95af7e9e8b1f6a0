'use strict'
// toPrometheus: its output is read back by a real Prometheus text-format parser (prometheus_client's
// parser from PyPI, installed by the test setup: scripts/test-deps.js), so a format mistake fails here rather than in a scrape.

const test = require('node:test')
const assert = require('node:assert')
const { execFileSync } = require('node:child_process')
const testDeps = require('../scripts/test-deps')
const pg = require('..')
const PY = require('./helpers').posixOnly('the Prometheus text parser runs in python3')

const PARSER = `
import sys, json, math
from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels,
                             "value": s.value if math.isfinite(s.value) else repr(s.value)} for s in f.samples]})
print(json.dumps(out))
`

/** Parses exposition text with the real parser; throws (test fails) when it rejects the text. */
function parseProm(text) {
  const out = execFileSync('python3', ['-c', PARSER], { input: text, encoding: 'utf8', env: { ...process.env, PYTHONPATH: testDeps.ensure({ quiet: true }) } })
  return JSON.parse(out)
}

function family(families, name) {
  const f = families.find((x) => x.name === name)
  assert.ok(f, `metric family ${name} missing from ${families.map((x) => x.name).join(', ')}`)
  return f
}

const NASTY = 'we"ird\\name\nwith newline'

function fullHealth(name, over = {}) {
  return {
    name,
    pid: 4242,
    alive: true,
    startedAt: 1_700_000_000_000,
    uptimeMs: 90_500,
    cpuPercent: 12.5,
    memory: { rss: 50_331_648, virtual: 1_073_741_824 },
    threads: 11,
    children: 2,
    listening: [
      { address: '127.0.0.1', port: 8080, family: 'ipv4' },
      { address: '::1', port: 8080, family: 'ipv6' },
    ],
    port: { number: 8080, listening: true, ownedByPid: true },
    endpoint: { url: 'http://127.0.0.1:8080/health', ok: true, status: 200, latencyMs: 4, body: { status: 'ok' }, error: null },
    healthy: true,
    problems: [],
    ...over,
  }
}

test('every metric of a full health result parses, once per family, as a gauge with help', { skip: PY }, () => {
  const text = pg.toPrometheus(fullHealth('api'))
  const families = parseProm(text)
  const expected = {
    pid_guard_up: 1,
    pid_guard_healthy: 1,
    pid_guard_problems: 0,
    pid_guard_start_time_seconds: 1_700_000_000,
    pid_guard_uptime_seconds: 90.5,
    pid_guard_cpu_percent: 12.5,
    pid_guard_memory_rss_bytes: 50_331_648,
    pid_guard_memory_virtual_bytes: 1_073_741_824,
    pid_guard_threads: 11,
    pid_guard_children: 2,
    pid_guard_listening_sockets: 2,
    pid_guard_port_listening: 1,
    pid_guard_port_owned: 1,
    pid_guard_endpoint_up: 1,
    pid_guard_endpoint_status_code: 200,
    pid_guard_endpoint_latency_seconds: 0.004,
  }
  assert.deepStrictEqual(families.map((f) => f.name).sort(), Object.keys(expected).sort())
  for (const [name, value] of Object.entries(expected)) {
    const f = family(families, name)
    assert.strictEqual(f.type, 'gauge', name)
    assert.ok(f.help.length > 10, `${name} has a help text`)
    assert.strictEqual(f.samples.length, 1, name)
    assert.strictEqual(f.samples[0].value, value, name)
    assert.strictEqual(f.samples[0].labels.name, 'api', name)
  }
  assert.deepStrictEqual(family(families, 'pid_guard_port_listening').samples[0].labels, { name: 'api', port: '8080' })
  assert.deepStrictEqual(family(families, 'pid_guard_endpoint_up').samples[0].labels, { name: 'api', url: 'http://127.0.0.1:8080/health' })
  // HELP and TYPE exactly once per family in the raw text.
  for (const name of Object.keys(expected)) {
    assert.strictEqual(text.split('\n').filter((l) => l.startsWith(`# TYPE ${name} `)).length, 1, name)
    assert.strictEqual(text.split('\n').filter((l) => l.startsWith(`# HELP ${name} `)).length, 1, name)
  }
})

test('a name with quote, backslash and newline is escaped and reads back exactly', { skip: PY }, () => {
  const families = parseProm(pg.toPrometheus(fullHealth(NASTY, { endpoint: { url: 'http://127.0.0.1:1/h?a="b"', ok: false, status: null, latencyMs: null, body: null, error: 'connection refused' } })))
  for (const f of families) {
    for (const s of f.samples) assert.strictEqual(s.labels.name, NASTY, f.name)
  }
  assert.strictEqual(family(families, 'pid_guard_endpoint_up').samples[0].labels.url, 'http://127.0.0.1:1/h?a="b"')
  assert.strictEqual(family(families, 'pid_guard_endpoint_up').samples[0].value, 0)
})

test('null metrics are left out; an array gives one sample per guard under one HELP/TYPE', { skip: PY }, () => {
  const down = {
    name: 'worker',
    pid: null,
    alive: false,
    startedAt: null,
    uptimeMs: null,
    cpuPercent: null,
    memory: null,
    threads: null,
    children: null,
    listening: [],
    healthy: false,
    problems: ['"worker" is not running'],
  }
  const text = pg.toPrometheus([fullHealth('api'), down, fullHealth(NASTY)])
  const families = parseProm(text)
  const up = family(families, 'pid_guard_up')
  assert.deepStrictEqual(up.samples.map((s) => [s.labels.name, s.value]), [['api', 1], ['worker', 0], [NASTY, 1]])
  // Null for "worker": no cpu/memory/threads/children sample for it.
  for (const name of ['pid_guard_cpu_percent', 'pid_guard_memory_rss_bytes', 'pid_guard_threads', 'pid_guard_children', 'pid_guard_uptime_seconds']) {
    assert.deepStrictEqual(family(families, name).samples.map((s) => s.labels.name), ['api', NASTY], name)
  }
  assert.deepStrictEqual(family(families, 'pid_guard_problems').samples.map((s) => s.value), [0, 1, 0])
  assert.strictEqual(text.match(/^# TYPE pid_guard_up gauge$/gm).length, 1)

  // Only nulls: families with no sample at all are not printed (no empty HELP/TYPE).
  const onlyDown = pg.toPrometheus(down)
  assert.ok(!onlyDown.includes('pid_guard_cpu_percent'), onlyDown)
  assert.deepStrictEqual(parseProm(onlyDown).map((f) => f.name).sort(), ['pid_guard_healthy', 'pid_guard_listening_sockets', 'pid_guard_problems', 'pid_guard_up'])
  assert.strictEqual(pg.toPrometheus([]), '')
})

test('a result without a name is labelled by pid', { skip: PY }, () => {
  const families = parseProm(pg.toPrometheus(fullHealth(null)))
  assert.deepStrictEqual(family(families, 'pid_guard_up').samples[0].labels, { pid: '4242' })
})

test('anything but health objects is an EINVALIDOPTION error that says what was passed', () => {
  for (const bad of [null, undefined, 42, 'api', [fullHealth('a'), null]]) {
    assert.throws(() => pg.toPrometheus(bad), (err) => {
      assert.strictEqual(err.name, 'PidGuardError')
      assert.strictEqual(err.code, 'EINVALIDOPTION')
      assert.match(err.message, /toPrometheus expects a health result/)
      return true
    })
  }
})

test('real healthSync / health results of this process render and parse', { skip: PY }, async () => {
  const syncH = pg.healthSync({ pid: process.pid })
  const asyncH = await pg.health({ pid: process.pid }, { sampleMs: 200 })
  // The same target twice is one series (the first result), never two samples of one series.
  const families = parseProm(pg.toPrometheus([syncH, asyncH]))
  const up = family(families, 'pid_guard_up')
  assert.deepStrictEqual(up.samples.map((s) => s.value), [1])
  const rss = family(families, 'pid_guard_memory_rss_bytes')
  assert.strictEqual(rss.samples.length, 1)
  for (const s of rss.samples) assert.ok(s.value > 1_000_000, `rss ${s.value}`)
  assert.strictEqual(family(parseProm(pg.toPrometheus(asyncH)), 'pid_guard_cpu_percent').samples.length, 1)
  const label = syncH.name ? { name: syncH.name } : { pid: String(process.pid) }
  assert.deepStrictEqual(up.samples[0].labels, label)
})
