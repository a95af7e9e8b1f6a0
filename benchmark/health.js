#!/usr/bin/env node
'use strict'
// Health benchmark, in one run on this machine:
//  1. in-process: healthSync({ pid }) (pid, memory, threads, children, listening ports) against
//     pidusage + pid-port (+ find-process), the npm packages people use for the same figures;
//  2. end to end, whole processes: the native `pid-guard health <name> --json` (release build)
//     against bare `node -e 0`, benchmark/health.sh (cat, ps, lsof, curl + jq, pgrep -c) and
//     `node bin/pid-guard health <name> --json` (the Node launcher in front of the native binary); peak RSS of each by /usr/bin/time -f %M
//     (else getrusage(RUSAGE_CHILDREN) from a python3 wrapper); the binary's size;
//  3. flat cost: healthSync and the native command again with 1,000 extra `sleep` processes.
// Prints a table with ratios and PASS/FAIL per target (always exits 0), `--json` for the raw
// figures; writes the table to benchmark/HEALTH-RESULTS.md. Builds the release binary first
// (`node scripts/build-cli.js --release`) unless --no-build.
//
// Usage: node benchmark/health.js [--json] [--rounds N] [--procs N] [--no-write] [--no-build]

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')

const ROOT = path.join(__dirname, '..')
const CLI = path.join(ROOT, 'bin', 'pid-guard') // the Node launcher, for installs without scripts
const { platformId, BIN_NAME } = require('../lib/platform')
const BIN = process.env.PID_GUARD_BIN || path.join(ROOT, 'npm', platformId(), BIN_NAME)
const SCRIPT = path.join(__dirname, 'health.sh')
const RESULTS = path.join(__dirname, 'HEALTH-RESULTS.md')
const NAME = 'bench-health'

function flag(name, fallback) {
  const i = process.argv.indexOf(name)
  if (i < 0) return fallback
  const n = Number(process.argv[i + 1])
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`${name} expects a positive whole number\n`)
    process.exit(2)
  }
  return n
}
const asJson = process.argv.includes('--json')
const write = !process.argv.includes('--no-write')
const build = !process.argv.includes('--no-build') && !process.env.PID_GUARD_BIN
const ROUNDS = flag('--rounds', 25)
const PROCS = flag('--procs', 1000)
const log = (s) => process.stderr.write(s + '\n')

// ---- processes this benchmark starts (and only those are killed) --------------------------

const started = []
const grandchildren = [] // the service's own children, killed by pid (a SIGKILLed service cannot)
function cleanup() {
  for (const pid of grandchildren.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {}
  }
  for (const c of started) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill('SIGKILL')
      } catch {}
    }
  }
}
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    cleanup()
    process.exit(130)
  })
}

/** The service under test: an HTTP server on 127.0.0.1 holding a guard with meta { port, url }, two children. */
function startService(dir) {
  const code = `
    const http = require('node:http'); const { spawn } = require('node:child_process')
    const pg = require(${JSON.stringify(ROOT)})
    const kids = [spawn('sleep', ['3600'], { stdio: 'ignore' }), spawn('sleep', ['3600'], { stdio: 'ignore' })]
    process.on('exit', () => kids.forEach((k) => k.kill('SIGKILL')))
    process.on('SIGTERM', () => process.exit(0))
    const t0 = Date.now()
    const server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ status: 'ok', uptime: Date.now() - t0, queue: 0 }))
    })
    server.listen(0, '127.0.0.1', () => {
      const port = server.address().port
      const url = 'http://127.0.0.1:' + port + '/health'
      globalThis.guard = pg.acquire(${JSON.stringify(NAME)}, { dir: ${JSON.stringify(dir)}, meta: { port, url } })
      process.stdout.write(JSON.stringify({ pid: process.pid, port, url, pidFile: guard.pidPath, kids: kids.map((k) => k.pid) }) + '\\n')
    })
    process.stdin.resume(); process.stdin.on('end', () => process.exit(0))`
  const child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] })
  started.push(child)
  return new Promise((resolve, reject) => {
    let buf = ''
    child.stdout.on('data', (d) => {
      buf += d
      if (buf.includes('\n')) resolve(JSON.parse(buf.slice(0, buf.indexOf('\n'))))
    })
    child.on('exit', (c) => reject(new Error(`service exited early (${c})`)))
  })
}

// ---- tools for the bash baseline -------------------------------------------------------------

function ensureTools() {
  const need = { ps: 'procps', pgrep: 'procps', lsof: 'lsof', curl: 'curl', jq: 'jq' }
  const missing = Object.keys(need).filter((t) => spawnSync('bash', ['-c', `command -v ${t}`]).status !== 0)
  if (!missing.length) return []
  const pkgs = [...new Set(missing.map((t) => need[t]))]
  log(`benchmark: ${missing.join(', ')} missing; installing ${pkgs.join(' ')} with apt-get`)
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' })
  const r = spawnSync('apt-get', ['install', '-y', '-qq', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
  if (r.status !== 0) throw new Error(`apt-get install ${pkgs.join(' ')} failed`)
  return pkgs
}

// ---- timing ----------------------------------------------------------------------------------

const now = () => Number(process.hrtime.bigint()) / 1e6 // ms

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b)
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))]
  return { median: q(0.5), p90: q(0.9), min: s[0], n: s.length }
}

function timeSync(fn, n) {
  const out = []
  for (let i = 0; i < n; i++) {
    const t = now()
    fn()
    out.push(now() - t)
  }
  return out
}

async function timeAsync(fn, n) {
  const out = []
  for (let i = 0; i < n; i++) {
    const t = now()
    await fn()
    out.push(now() - t)
  }
  return out
}

/**
 * Wall time of whole processes, interleaved round by round so drift hits every command alike.
 * Each command's output is checked once (`ok`); the timed runs are a batch of BATCH runs in one
 * small bash loop (fork + exec per run, as a probe runner does), so Node's own spawnSync cost
 * (a few ms per call, more than the native command itself) is not counted against anyone.
 */
const BATCH = 5
function timeCommands(cmds, rounds) {
  const samples = Object.fromEntries(Object.keys(cmds).map((k) => [k, []]))
  for (const [k, { file, args, env, ok }] of Object.entries(cmds)) {
    const res = spawnSync(file, args, { env: { ...process.env, ...env }, encoding: 'utf8' })
    if (!ok(res)) throw new Error(`${k} failed (exit ${res.status}): ${res.stderr || res.stdout}`)
  }
  const loop = `for ((i = 0; i < ${BATCH}; i++)); do "$0" "$@" >/dev/null 2>&1 || exit 1; done`
  for (let r = 0; r < rounds + 1; r++) {
    for (const [k, { file, args, env }] of Object.entries(cmds)) {
      const t = now()
      const res = spawnSync('bash', ['-c', loop, file, ...args], { env: { ...process.env, ...env }, stdio: 'ignore' })
      const ms = (now() - t) / BATCH
      if (res.status !== 0) throw new Error(`${k} failed in the timing loop (exit ${res.status})`)
      if (r >= 1) samples[k].push(ms) // one warm-up round
    }
  }
  return samples
}

/** `n` extra sleeping processes on the host, started (and later killed) by this benchmark. */
async function extraProcesses(n) {
  const kids = []
  for (let i = 0; i < n; i++) {
    const c = spawn('sleep', ['3600'], { stdio: 'ignore' })
    started.push(c)
    kids.push(c)
  }
  // Wait until every one really exists (has a pid and a /proc entry), not a fixed sleep.
  const deadline = Date.now() + 30000
  while (!kids.every((c) => c.pid && fs.existsSync(`/proc/${c.pid}`))) {
    if (Date.now() > deadline) throw new Error('extra processes did not start')
    await new Promise((r) => setTimeout(r, 20))
  }
  return () => Promise.all(kids.map((c) => new Promise((r) => {
    if (c.exitCode !== null || c.signalCode !== null) return r()
    c.on('exit', r)
    c.kill('SIGKILL')
  })))
}

/**
 * Peak resident memory of one whole process, in KiB: GNU time's %M (the kernel's maxrss of the
 * process and what it waited for), else the same figure from getrusage(RUSAGE_CHILDREN) in a
 * python3 wrapper. Median of `n` runs.
 */
function peakRssKiB({ file, args, env }, n) {
  const out = path.join(os.tmpdir(), `pg-bench-rss-${process.pid}`)
  const viaTime = fs.existsSync('/usr/bin/time')
  const rows = []
  for (let i = 0; i < n; i++) {
    const r = viaTime
      ? spawnSync('/usr/bin/time', ['-f', '%M', '-o', out, file, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' })
      : spawnSync('python3', ['-c', 'import resource,subprocess,sys\nsubprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL)\nopen(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))', out, file, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' })
    if (r.error) throw r.error
    rows.push(Number(fs.readFileSync(out, 'utf8').trim().split('\n').pop()))
  }
  fs.rmSync(out, { force: true })
  return { kib: stats(rows).median, how: viaTime ? '/usr/bin/time -f %M' : 'getrusage(RUSAGE_CHILDREN) from python3' }
}

function countProcesses() {
  return fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).length
}

// ---- the run ---------------------------------------------------------------------------------

async function main() {
  const pg = require(ROOT)
  if (typeof pg.healthSync !== 'function') throw new Error('this build exports no healthSync(); build the addon first (npm run build)')
  const pidusage = require('pidusage')
  const { pidToPorts } = await import('pid-port')
  const findProcess = require('find-process').default ?? require('find-process')

  if (build) {
    log('benchmark: building the release binary (node scripts/build-cli.js --release)')
    const b = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build-cli.js'), '--release'], { stdio: 'inherit' })
    if (b.status !== 0) throw new Error('node scripts/build-cli.js --release failed')
  }
  if (!fs.existsSync(BIN)) throw new Error(`no native binary at ${BIN}: run node scripts/build-cli.js --release`)
  const installed = ensureTools()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pg-bench-health-'))
  fs.chmodSync(dir, 0o700)
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  const svc = await startService(dir)
  grandchildren.push(...svc.kids)
  const pid = svc.pid
  log(`benchmark: service pid ${pid} on 127.0.0.1:${svc.port}, ${ROUNDS} rounds, ${os.cpus().length} cores, ${countProcesses()} processes`)

  // Both sides must see the same thing before their speed means anything.
  const h = pg.healthSync({ pid })
  const ports = await pidToPorts(pid)
  const usage = await pidusage(pid)
  const fp = await findProcess('pid', pid)
  const check = {
    healthSync: { alive: h.alive, rss: h.memory?.rss, ports: (h.listening ?? []).map((l) => l.port), children: h.children },
    baseline: { rss: usage.memory, ports: [...ports], name: fp[0]?.name },
  }
  if (!h.alive || !h.listening?.some((l) => l.port === svc.port)) log(`benchmark: WARNING healthSync did not see the service's port: ${JSON.stringify(h)}`)

  // 1. In-process. Interleaved blocks; many more healthSync calls since each is far cheaper.
  const inproc = { healthSync: [], healthSyncName: [], pidusage: [], pidPort: [], findProcess: [], baseline: [] }
  for (let r = 0; r < 5; r++) {
    inproc.healthSync.push(...timeSync(() => pg.healthSync({ pid }), 400))
    inproc.healthSyncName.push(...timeSync(() => pg.healthSync(NAME, { dir }), 200))
    inproc.pidusage.push(...(await timeAsync(() => pidusage(pid), Math.ceil(ROUNDS / 5) + 1)))
    inproc.pidPort.push(...(await timeAsync(() => pidToPorts(pid), Math.ceil(ROUNDS / 5) + 1)))
    inproc.findProcess.push(...(await timeAsync(() => findProcess('pid', pid), Math.ceil(ROUNDS / 5) + 1)))
    inproc.baseline.push(...(await timeAsync(async () => {
      await pidusage(pid)
      await pidToPorts(pid)
    }, Math.ceil(ROUNDS / 5) + 1)))
  }
  pidusage.clear?.()

  // 2. End to end.
  const env = { PID_GUARD_DIR: dir, NO_COLOR: '1' }
  const healthy = (r) => r.status === 0 && JSON.parse(r.stdout).pid === pid && JSON.parse(r.stdout).endpoint?.status === 200
  const cmds = {
    native: { file: BIN, args: ['health', NAME, '--json'], env, ok: healthy },
    cli: { file: process.execPath, args: [CLI, 'health', NAME, '--json'], env, ok: healthy },
    bash: { file: 'bash', args: [SCRIPT, svc.pidFile, String(svc.port), svc.url], env: {}, ok: (r) => r.status === 0 && JSON.parse(r.stdout).pid === pid },
    node: { file: process.execPath, args: ['-e', '0'], env: {}, ok: (r) => r.status === 0 },
  }
  const e2e = timeCommands(cmds, ROUNDS)
  const rss = Object.fromEntries(Object.entries(cmds).map(([k, c]) => [k, peakRssKiB(c, 5)]))
  const binBytes = fs.statSync(BIN).size

  // 3. The same with PROCS more processes on the host.
  const before = countProcesses()
  const stop = await extraProcesses(PROCS)
  const crowded = countProcesses()
  const flat = { healthSync: [], baseline: [] }
  for (let r = 0; r < 5; r++) {
    flat.healthSync.push(...timeSync(() => pg.healthSync({ pid }), 400))
    flat.baseline.push(...(await timeAsync(async () => {
      await pidusage(pid)
      await pidToPorts(pid)
    }, Math.ceil(ROUNDS / 10) + 1)))
  }
  const e2eCrowded = timeCommands({ native: cmds.native, node: cmds.node }, Math.max(5, Math.ceil(ROUNDS / 3)))
  const hCrowded = pg.healthSync({ pid })
  await stop()
  pidusage.clear?.()

  const S = (a) => stats(a)
  const m = {
    healthSync: S(inproc.healthSync),
    healthSyncName: S(inproc.healthSyncName),
    pidusage: S(inproc.pidusage),
    pidPort: S(inproc.pidPort),
    findProcess: S(inproc.findProcess),
    pidusagePlusPidPort: S(inproc.baseline),
    native: S(e2e.native),
    cli: S(e2e.cli),
    bash: S(e2e.bash),
    node: S(e2e.node),
    healthSyncCrowded: S(flat.healthSync),
    pidusagePlusPidPortCrowded: S(flat.baseline),
    nativeCrowded: S(e2eCrowded.native),
    nodeCrowded: S(e2eCrowded.node),
  }
  const MiB = (kib) => kib / 1024
  const allThree = m.pidusage.median + m.pidPort.median + m.findProcess.median
  const targets = [
    { target: 'in-process: healthSync vs pidusage + pid-port', goal: '>= 20x faster', ratio: m.pidusagePlusPidPort.median / m.healthSync.median, pass: (r) => r >= 20, unit: 'x faster' },
    { target: 'native `pid-guard health NAME --json` vs bare `node -e 0` (issue 12)', goal: '>= 10x faster', ratio: m.node.median / m.native.median, pass: (r) => r >= 10, unit: 'x faster' },
    { target: 'native `pid-guard health NAME --json` vs bash script (ps, lsof, curl, jq, pgrep) (issue 12)', goal: '>= 30x faster', ratio: m.bash.median / m.native.median, pass: (r) => r >= 30, unit: 'x faster' },
    { target: 'native `pid-guard health NAME --json` peak RSS (issue 12)', goal: '<= 16 MiB', ratio: MiB(rss.native.kib), pass: (r) => r <= 16, unit: 'MiB' },
    { target: `flat: healthSync with ${PROCS} extra processes vs without`, goal: '<= 1.25x', ratio: m.healthSyncCrowded.median / m.healthSync.median, pass: (r) => r <= 1.25, unit: 'x' },
    // Not flat by design: a guard's health looks for strays (processes carrying its holder's
    // marker outside its tree), which reads every process's environment once.
    { target: `native \`health NAME --json\`: cost per extra process on the host (the strays scan reads each one's environment)`, goal: '<= 30 us', ratio: ((m.nativeCrowded.median - m.native.median) / PROCS) * 1000, pass: (r) => r <= 30, unit: 'us' },
  ].map((t) => ({ ...t, result: t.pass(t.ratio) ? 'PASS' : 'FAIL' }))

  const fmt = (ms) => (ms < 1 ? `${(ms * 1000).toFixed(1)} us` : `${ms.toFixed(2)} ms`)
  const rows = [
    ['healthSync({ pid }) in-process', m.healthSync],
    ['healthSync(name) in-process (guard lookup + the same)', m.healthSyncName],
    ['pidusage(pid)', m.pidusage],
    ['pid-port pidToPorts(pid)', m.pidPort],
    ["find-process('pid', pid)", m.findProcess],
    ['pidusage + pid-port (one call each)', m.pidusagePlusPidPort],
    ['native `pid-guard health NAME --json` (whole process)', m.native, rss.native],
    ['`node bin/pid-guard health NAME --json` (the Node launcher, then the native binary: installs without scripts)', m.cli, rss.cli],
    ['benchmark/health.sh (whole process)', m.bash, rss.bash],
    ['`node -e 0` (whole process)', m.node, rss.node],
    [`healthSync, ${PROCS} extra processes`, m.healthSyncCrowded],
    [`pidusage + pid-port, ${PROCS} extra processes`, m.pidusagePlusPidPortCrowded],
    [`native \`pid-guard health NAME --json\`, ${PROCS} extra processes`, m.nativeCrowded],
    [`\`node -e 0\`, ${PROCS} extra processes (control: spawning itself got slower)`, m.nodeCrowded],
  ]
  const table = [
    '| measurement | median | p90 | n | peak RSS |',
    '|---|---|---|---|---|',
    ...rows.map(([k, s, r]) => `| ${k} | ${fmt(s.median)} | ${fmt(s.p90)} | ${s.n} | ${r ? `${MiB(r.kib).toFixed(1)} MiB` : ''} |`),
    '',
    `Peak RSS: median of 5 runs by ${rss.native.how}. The native binary (${path.relative(ROOT, BIN)}): ${(binBytes / 1024).toFixed(0)} KiB.`,
    '',
    `pidusage + pid-port + find-process (sum of medians): ${fmt(allThree)}, ${(allThree / m.healthSync.median).toFixed(0)}x healthSync.`,
    '',
    '| target | goal | measured | result |',
    '|---|---|---|---|',
    ...targets.map((t) => `| ${t.target} | ${t.goal} | ${t.ratio.toFixed(2)}${t.unit.startsWith('x') ? t.unit : ` ${t.unit}`} | ${t.result} |`),
  ].join('\n')

  const machine = `${os.cpus().length} cores (${os.cpus()[0]?.model?.trim()}), ${os.type()} ${os.release()}, Node ${process.version}; ${before} processes on the host, ${crowded} with the extra ones`
  const md = [
    '# Health benchmark results',
    '',
    `Written by \`npm run bench:health\` (benchmark/health.js) on ${new Date().toISOString()}.`,
    `Machine: ${machine}.`,
    installed.length ? `apt-get installed for the bash baseline: ${installed.join(', ')}.` : 'The bash baseline\'s tools (ps, pgrep, lsof, curl, jq) were already installed.',
    '',
    'The service: a Node HTTP server on 127.0.0.1 holding the guard with meta `{ port, url }`, two `sleep` children.',
    'In-process figures are per call (healthSync: pid, start time, memory, threads, children, listening sockets).',
    'Whole-process figures are wall time per run of a batch of 5 runs in a bash loop (fork + exec, as a probe runner does), commands interleaved round by round, after one warm-up round.',
    '`pid-guard health NAME --json` samples no CPU window by default (like `ps -o %cpu`, no 200 ms wait); it reads the guard,',
    'the process, its sockets and children, and probes the recorded endpoint over HTTP, like the bash script.',
    'Ratios are of medians from this one run. The native binary is the release build (`node scripts/build-cli.js --release`).',
    '',
    table,
    '',
  ].join('\n')
  if (write) fs.writeFileSync(RESULTS, md)
  if (asJson) {
    process.stdout.write(JSON.stringify({ machine, rounds: ROUNDS, procs: PROCS, installed, check, binBytes, peakRssKiB: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, v.kib])), medians: Object.fromEntries(Object.entries(m).map(([k, s]) => [k, s.median])), stats: m, targets: targets.map(({ pass, ...t }) => t), healthCrowded: { alive: hCrowded.alive, children: hCrowded.children } }, null, 2) + '\n')
  } else {
    process.stdout.write(`${machine}\n\n${table}\n${write ? `\nwritten to ${path.relative(process.cwd(), RESULTS)}\n` : ''}`)
  }
}

main().then(
  () => {
    cleanup()
    process.exitCode = 0
  },
  (err) => {
    cleanup()
    log(`benchmark: failed: ${err.message}`)
    process.exitCode = 1 // no table: the run itself broke (PASS/FAIL of targets never changes the code)
  },
)
