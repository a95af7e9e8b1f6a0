'use strict'
// Timing: every contender runs the same number of rounds, interleaved round by round (round 1 of
// each, then round 2 of each..., starting with a different contender each round), so a burst of load on this shared machine hits all of them
// alike instead of skewing one. Per-op cost of a round = round time / iterations; the reported
// figure is the median round.

const { execFileSync } = require('node:child_process')

function settle() {
  if (process.platform === 'win32') return
  try {
    execFileSync('sync', { stdio: 'ignore' })
  } catch {
    // No sync(1): rounds just start with whatever backlog there is.
  }
}

function median(values) {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/** Runs `cycle` `iterations` times and returns microseconds per call. */
function timeRound(cycle, iterations) {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) cycle()
  return Number(process.hrtime.bigint() - t0) / 1e3 / iterations
}

/**
 * contenders: [{ key, label, setup() -> { cycle, round?(iterations, warmup) }, teardown? }]
 * A contender with `round` measures itself (the Rust floor runs in its own process) and returns
 * microseconds per op for one round.
 */
function run(contenders, { rounds, iterations, warmup, onRound }) {
  const state = contenders.map((c) => ({ c, impl: c.setup(), rounds: [] }))
  for (const s of state) {
    if (s.impl.cycle) for (let i = 0; i < warmup; i++) s.impl.cycle()
  }
  for (let r = 0; r < rounds; r++) {
    // Rotate who goes first, so no contender always runs right after the same neighbour.
    const order = state.map((_, i) => state[(i + r) % state.length])
    for (const s of order) {
      // Start every round with the filesystem's backlog flushed: otherwise the journal work one
      // contender's churn leaves behind (ext4 commits, discards) is billed to the next one.
      settle()
      const us = s.impl.round ? s.impl.round(iterations, warmup) : timeRound(s.impl.cycle, iterations)
      s.rounds.push(us)
    }
    if (onRound) onRound(r + 1, rounds)
  }
  for (const s of state) if (s.impl.teardown) s.impl.teardown()
  return state.map((s) => ({
    key: s.c.key,
    label: s.c.label,
    does: s.c.does,
    usPerOp: median(s.rounds),
    min: Math.min(...s.rounds),
    max: Math.max(...s.rounds),
    rounds: s.rounds,
  }))
}

module.exports = { run, median, timeRound }
