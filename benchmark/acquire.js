#!/usr/bin/env node
'use strict'
// Acquire + release, timed against the alternatives and the syscall floor, in one run.
//
//   npm run bench                     table + PASS/FAIL per target, writes benchmark/RESULTS.md
//   node benchmark/acquire.js --json  the same as JSON on stdout
//   options: --rounds N (5) --iterations N (2000) --warmup N (500) --no-write --no-floor
//            --breakdown  also replay pid-guard's syscalls in Rust (floor --breakdown), cost per step
//
// Benchmarks report; they never fail the build: the exit status is 0 whether targets pass or not
// (behaviour is checked by the tests in __test__/).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { run } = require('./lib/measure')
const { contenders } = require('./lib/contenders')
const floor = require('./lib/floor')
const machine = require('./lib/machine')
const report = require('./lib/report')

function parseArgs(argv) {
  const opts = { json: false, write: true, floor: true, breakdown: false, rounds: 5, iterations: 2000, warmup: 500 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const num = () => {
      const n = Number(argv[++i])
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} needs a positive integer`)
      return n
    }
    if (a === '--json') opts.json = true
    else if (a === '--no-write') opts.write = false
    else if (a === '--no-floor') opts.floor = false
    else if (a === '--breakdown') opts.breakdown = true
    else if (a === '--rounds') opts.rounds = num()
    else if (a === '--iterations') opts.iterations = num()
    else if (a === '--warmup') opts.warmup = num()
    else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 12).join('\n').replace(/^\/\/ ?/gm, ''))
      process.exit(0)
    } else throw new Error(`unknown argument ${a} (try --help)`)
  }
  return opts
}

function main() {
  const opts = parseArgs(process.argv.slice(2))
  const log = (msg) => process.stderr.write(`${msg}\n`)
  // Same filesystem as pid-guard's default directory (<tmpdir>/pid-guard-<uid>).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pid-guard-bench-'))
  try {
    let floorExe = null
    if (opts.floor) {
      log('building the syscall floor (cargo build --release --example floor)...')
      try {
        floorExe = floor.build()
      } catch (err) {
        log(`could not build the floor, leaving it out: ${err.message}`)
      }
    }
    const config = { rounds: opts.rounds, iterations: opts.iterations, warmup: opts.warmup, dir }
    const results = report.withRatios(
      run(contenders(dir, { floorExe }), {
        ...config,
        onRound: (r, n) => log(`round ${r}/${n} done`),
      }),
    )
    const rep = { machine: machine.describe(dir), config, results, targets: report.targets(results) }
    if (opts.breakdown && floorExe) rep.breakdown = floor.breakdown(floorExe, dir, opts.iterations)
    if (opts.write) {
      const file = report.writeResults(rep)
      log(`wrote ${path.relative(process.cwd(), file)}`)
    }
    if (opts.json) process.stdout.write(`${JSON.stringify(rep, null, 2)}\n`)
    else process.stdout.write(`${report.text(rep)}\n`)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main()
