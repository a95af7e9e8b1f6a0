'use strict'
// Issue 10, item 8: a holder that opened the lock file read-only (flock(1), Python's
// open(path)) releases with IN_CLOSE_NOWRITE; a waiter with no timeout must still be woken.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const h = require('./helpers')

const ROOT = JSON.stringify(path.join(__dirname, '..'))
const haveFlock = spawnSync('flock', ['--version']).status === 0
const havePython = spawnSync('python3', ['-c', '0']).status === 0

const HOLDERS = {
  // flock(1) opens an existing file O_RDONLY.
  flock: haveFlock && ((lock) => ['flock', ['-x', lock, 'sh', '-c', 'echo locked; read x']]),
  python: havePython && ((lock) => [
    'python3',
    ['-c', 'import fcntl,sys\nf=open(sys.argv[1])\nfcntl.flock(f,fcntl.LOCK_EX)\nprint("locked",flush=True)\nsys.stdin.readline()\nf.close()', lock],
  ]),
}

for (const [who, make] of Object.entries(HOLDERS)) {
  test(`a waiter is woken when a read-only ${who} holder releases`, { skip: h.linuxOnly('finds the waiter in /proc/PID/fd') || (!make && `${who} missing`) }, async (t) => {
    const dir = h.tmpDir(t)
    const lock = path.join(dir, 'w.lock')
    for (let trial = 0; trial < 5; trial++) {
      fs.writeFileSync(lock, '', { mode: 0o600 })
      const [cmd, args] = make(lock)
      const holder = h.track(t, spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] }))
      const exited = new Promise((r) => holder.on('exit', r))
      await new Promise((resolve, reject) => {
        holder.stdout.once('data', resolve)
        holder.once('exit', () => reject(new Error(`${who} exited before locking`)))
      })
      const waiter = h.node(
        t,
        `const pg = require(${ROOT})
         console.log('waiting')
         const g = pg.acquire('w', { dir: ${JSON.stringify(dir)}, onConflict: 'wait' })
         console.log('won'); g.release()`,
        { timeout: 10000 },
      )
      // Let the waiter reach its wait: poll the lock table until it shows a second opener.
      await h.waitFor(() => {
        const ino = fs.statSync(lock).ino
        return fs.readdirSync('/proc').some((p) => {
          if (!/^\d+$/.test(p) || Number(p) === holder.pid) return false
          try {
            return fs.readdirSync(`/proc/${p}/fd`).some((fd) => {
              try { return fs.statSync(`/proc/${p}/fd/${fd}`).ino === ino } catch { return false }
            })
          } catch { return false }
        })
      }, 'the waiter to open the lock file')
      holder.stdin.end('\n')
      await exited
      const r = await waiter
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /won/)
    }
  })
}
