'use strict'
// The lock + pid file people write by hand: look for a pid file, ask the kernel whether the PID
// in it is alive (kill 0), write ours, unlink on the way out. Racy (two starts can both see no
// file) and fooled by PID reuse; here for its cost only.

const fs = require('node:fs')

function acquire(pidFile) {
  if (fs.existsSync(pidFile)) {
    const pid = Number.parseInt(fs.readFileSync(pidFile, 'utf8'), 10)
    if (pid > 0 && pid !== process.pid) {
      let alive = true
      try {
        process.kill(pid, 0)
      } catch (err) {
        alive = err.code === 'EPERM'
      }
      if (alive) throw new Error(`already running as pid ${pid}`)
    }
  }
  fs.writeFileSync(pidFile, `${process.pid}\n`)
  return { release: () => fs.unlinkSync(pidFile) }
}

module.exports = { acquire }
