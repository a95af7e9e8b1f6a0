'use strict'
// Everything timed, each as "set up once, then one acquire + release per cycle", all in the same
// directory (so on the same filesystem). `does` says what a cycle gives you, so the table
// compares like with like: pid-guard does strictly more than any of the others.

const fs = require('node:fs')
const path = require('node:path')
const floor = require('./floor')
const handRolled = require('./handrolled')

const pidGuard = require('../..')

/** Makes sure a cycle left nothing behind (a benchmark of a broken release measures nothing). */
function assertGone(files, who) {
  for (const f of files) {
    if (fs.existsSync(f)) throw new Error(`${who}: ${f} still exists after release`)
  }
}

/** pid-guard's release removes the pid file and frees the lock (the lock file stays). */
function assertReleased(dir, name, who) {
  assertGone([path.join(dir, `${name}.pid`)], who)
  if (pidGuard.status(name, { dir }).state !== 'free') throw new Error(`${who}: ${name} is not free after release`)
}

function contenders(dir, { floorExe } = {}) {
  const list = [
    {
      key: 'pid-guard',
      label: 'pid-guard acquire + release (default, cleanup: true)',
      does: 'kernel lock, dev/ino + link-count check, stale + PID-reuse recovery, pid file, JSON record (in the lock file), exit/signal hooks',
      setup() {
        const name = 'bench-default'
        const cycle = () => pidGuard.acquire(name, { dir }).release()
        cycle()
        assertReleased(dir, name, this.key)
        return { cycle }
      },
    },
    {
      key: 'pid-guard-nocleanup',
      label: 'pid-guard acquire + release (cleanup: false)',
      does: 'as above, without the exit/signal hooks',
      setup() {
        const name = 'bench-nocleanup'
        const cycle = () => pidGuard.acquire(name, { dir, cleanup: false }).release()
        cycle()
        assertReleased(dir, name, this.key)
        return { cycle }
      },
    },
    {
      key: 'proper-lockfile',
      label: 'proper-lockfile lockSync + release',
      does: 'mkdir lock dir + mtime (stale after 10 s by age), no pid',
      setup() {
        const lockfile = require('proper-lockfile')
        const target = path.join(dir, 'proper-lockfile-target')
        fs.writeFileSync(target, '')
        const cycle = () => lockfile.lockSync(target)()
        cycle()
        assertGone([`${target}.lock`], this.key)
        return { cycle }
      },
    },
    {
      key: 'lockfile',
      label: 'lockfile lockSync + unlockSync',
      does: 'O_EXCL create + unlink, no pid, no stale detection by pid',
      setup() {
        const lockfile = require('lockfile')
        const file = path.join(dir, 'lockfile.lock')
        const cycle = () => {
          lockfile.lockSync(file)
          lockfile.unlockSync(file)
        }
        cycle()
        assertGone([file], this.key)
        return { cycle }
      },
    },
    {
      key: 'npid',
      label: 'npid create + remove',
      does: 'O_EXCL create + write pid + unlink, no lock, no stale detection',
      setup() {
        const npid = require('npid')
        const file = path.join(dir, 'npid.pid')
        const cycle = () => npid.create(file).remove()
        cycle()
        assertGone([file], this.key)
        return { cycle }
      },
    },
    {
      key: 'hand-rolled',
      label: 'hand-rolled JS (existsSync, kill 0, writeFileSync, unlinkSync)',
      does: 'pid file + kill(pid, 0) liveness; racy, fooled by PID reuse',
      setup() {
        const file = path.join(dir, 'hand-rolled.pid')
        const cycle = () => handRolled.acquire(file).release()
        cycle()
        assertGone([file], this.key)
        return { cycle }
      },
    },
  ]
  if (floorExe) {
    list.push({
      key: 'floor',
      label: 'syscall floor (Rust: open, flock, fstat+stat, write pid, unlink, close)',
      does: 'the bare syscalls of one locked pid file, no JS',
      setup() {
        return { round: (iterations, warmup) => floor.round(floorExe, dir, iterations, warmup) }
      },
    })
  }
  return list
}

module.exports = { contenders }
