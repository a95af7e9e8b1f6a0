'use strict'
// Stop 16 attacks on "never signal a process not proven to hold the lock now", made from the
// attacker's scripts (/work/attacks/39, 41, 42): real processes, namespaces and sockets; each
// innocent is started by the test and checked alive afterwards.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync, spawnSync } = require('node:child_process')
const h = require('./helpers')

const linux = process.platform === 'linux'
const isRoot = process.getuid?.() === 0
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0
const bash = (script, env = {}) =>
  spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: 60000, env: { ...process.env, B: h.BIN, ...env } })

// 41: in `unshare --pid --fork` WITHOUT --mount-proc, /proc numbers are the parent namespace's
// while kill()/pidfd_open() take ours. An innocent placed at the holder's /proc number (with
// ns_last_pid) must not be signalled; stop refuses with ENOTVERIFIED naming /proc.
test('a PID namespace with the parent\'s /proc: stop signals nobody and says why; status names no wrong pid', { skip: !(linux && isRoot && has('unshare')) && 'needs root and unshare' }, (t) => {
  const dir = h.tmpDir(t)
  fs.writeFileSync(
    path.join(dir, 'inner.sh'),
    `D=${dir}
$B run web --dir $D -- sleep 60 & S=$!
for i in $(seq 50); do [ -s $D/web.pid ] && break; sleep 0.1; done; sleep 0.3
INO=$(stat -c %i $D/web.lock)
H=$(awk -v ino=":$INO\\$" '$2=="FLOCK" && $6 ~ ino {print $5}' /proc/locks | head -1)
echo $((H-1)) > /proc/sys/kernel/ns_last_pid
sleep 61 & I=$!
[ "$I" = "$H" ] && echo PLACED
$B status web --dir $D --json > $D/status.json
$B stop web --dir $D --timeout 1500 > $D/stop.out 2>&1; echo "STOPRC=$?"
$B stop --pid $I --timeout 1500 > $D/stoppid.out 2>&1; echo "PIDRC=$?"
sleep 0.3
kill -0 $I 2>/dev/null && echo INNOCENT-ALIVE
kill -0 $S 2>/dev/null && echo HOLDER-ALIVE
kill $S $I 2>/dev/null; wait 2>/dev/null
`,
  )
  const r = spawnSync('unshare', ['--pid', '--fork', 'bash', path.join(dir, 'inner.sh')], {
    encoding: 'utf8',
    timeout: 60000,
    env: { ...process.env, B: h.BIN },
  })
  const out = r.stdout + r.stderr
  assert.match(out, /INNOCENT-ALIVE/, out)
  assert.match(out, /HOLDER-ALIVE/, out)
  assert.match(out, /STOPRC=1/, out)
  assert.match(out, /PIDRC=1/, out)
  const msg = fs.readFileSync(path.join(dir, 'stop.out'), 'utf8')
  assert.match(msg, /\/proc is another PID namespace's/, msg)
  assert.match(msg, /unshare --mount-proc/, msg)
  assert.match(fs.readFileSync(path.join(dir, 'stoppid.out'), 'utf8'), /\/proc is another PID namespace's/)
  const st = JSON.parse(fs.readFileSync(path.join(dir, 'status.json'), 'utf8'))
  assert.equal(st.state, 'held')
  assert.deepEqual(st.holders.map((x) => x.pid), [null], 'unknown, not a wrong pid')
  assert.equal(st.problem.code, 'ENOTVERIFIED')
})

// 42: the command's main thread ends with pthread_exit() while a worker runs: the leader is a
// zombie and /proc/PID/fd is empty; the lock shows under /proc/PID/task/TID/fd.
test('a holder whose main thread exited (pthread_exit) is still seen, and stop stops it', { skip: !(linux && has('gcc')) && 'needs gcc' }, (t) => {
  const dir = h.tmpDir(t)
  fs.writeFileSync(
    path.join(dir, 't.c'),
    `#include <pthread.h>
#include <unistd.h>
static void *worker(void *a) { (void)a; sleep(30); return 0; }
int main(void) { pthread_t t; pthread_create(&t, 0, worker, 0); pthread_exit(0); }
`,
  )
  execFileSync('gcc', ['-o', path.join(dir, 't'), path.join(dir, 't.c'), '-lpthread'])
  const r = bash(
    `D=${dir}
$B run web --dir $D -- $D/t & P=$!
for i in $(seq 50); do [ -s $D/web.pid ] && break; sleep 0.1; done; sleep 0.3
echo "LEADER=$(awk '{print $3}' /proc/$P/stat)"
$B status web --dir $D --json > $D/status.json
$B stop web --dir $D --timeout 3000 > $D/stop.out 2>&1; echo "STOPRC=$?"
wait $P; echo "EXIT=$?"
`,
  )
  const out = r.stdout + r.stderr
  assert.match(out, /LEADER=Z/, 'the leader is a zombie: the case under test')
  const st = JSON.parse(fs.readFileSync(path.join(dir, 'status.json'), 'utf8'))
  assert.equal(st.holders.length, 1, JSON.stringify(st))
  assert.equal(st.holders[0].verified, true, JSON.stringify(st))
  assert.equal(typeof st.holders[0].pid, 'number')
  assert.match(out, /STOPRC=0/, out + fs.readFileSync(path.join(dir, 'stop.out'), 'utf8'))
  assert.match(out, /EXIT=143/, out)
})

// 39: after a run'd command exited (the pid file stays: stale), an unrelated listener on the
// recorded port (no marker, another command line) must not be signalled by stop, with --force
// or without, nor by stop --port.
test('stop NAME --force and stop --port never signal an unrelated port owner of a stale guard', { skip: !linux && 'ports via netlink' }, (t) => {
  const dir = h.tmpDir(t)
  const r = bash(
    `D=${dir}
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
$B run web --dir $D --port $PORT -- sh -c 'exit 0'
python3 -c "
import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',$PORT)); s.listen(1)
open('$D/ready','w').close(); time.sleep(30)" & L=$!
for i in $(seq 50); do [ -f $D/ready ] && break; sleep 0.1; done
echo "LISTENER=$L"
$B stop web --dir $D --force --timeout 1000 > $D/force.out 2>&1; echo "FORCERC=$?"
$B stop web --dir $D --timeout 1000 > $D/plain.out 2>&1; echo "PLAINRC=$?"
$B stop --port $PORT --dir $D --force --timeout 1000 > $D/port.out 2>&1; echo "PORTRC=$?"
sleep 0.2
kill -0 $L 2>/dev/null && echo LISTENER-ALIVE
kill $L; wait $L 2>/dev/null
`,
  )
  const out = r.stdout + r.stderr
  const pid = out.match(/LISTENER=(\d+)/)[1]
  assert.match(out, /LISTENER-ALIVE/, out)
  for (const [f, rc] of [['force', 'FORCERC'], ['plain', 'PLAINRC'], ['port', 'PORTRC']]) {
    assert.match(out, new RegExp(`${rc}=1`), out)
    const msg = fs.readFileSync(path.join(dir, `${f}.out`), 'utf8')
    assert.match(msg, new RegExp(`pid ${pid}`), msg)
    assert.match(msg, /python3/, msg)
    assert.match(msg, new RegExp(`not proven to be the guard's.*kill ${pid}`), msg)
  }
})

// 31: `run web -- sh -c 'server & wait'`: the server inherits the lock fd. Stopped means the
// guard let go: status lists both, stop ends both, takeover succeeds; also when the server was
// reparented (`(server &)`), so only the kernel's fds show it once the shell has exited.
test('a forking command: status lists the child holding the lock; stop and takeover end every holder', { skip: !linux && 'fd proofs are Linux' }, (t) => {
  const dir = h.tmpDir(t)
  for (const [label, cmd] of [
    ['child', 'sleep 60 & wait'],
    ['reparented', '(sleep 60 &); exec sleep 59'],
  ]) {
    const r = bash(
      `D=${dir}
alive() { $B status web --dir $D --json | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).holders.filter(h=>h.alive).map(h=>h.pid).join(' ')))"; }
$B run web --dir $D -- sh -c '${cmd}' & P=$!
for i in $(seq 50); do [ -s $D/web.pid ] && break; sleep 0.1; done; sleep 0.3
echo "BEFORE=[$(alive)]"
$B stop web --dir $D --timeout 5000 > $D/stop.out 2>&1; echo "STOPRC=$?"
echo "AFTER=[$(alive)]"
$B run web --dir $D -- sh -c '${cmd}' & P=$!
for i in $(seq 50); do [ -s $D/web.pid ] && break; sleep 0.1; done; sleep 0.3
$B run web --dir $D --takeover=5000 -- echo took > $D/to.out 2>&1; echo "TAKERC=$?"
echo "LEFT=[$(alive)]"
`,
    )
    const out = r.stdout + r.stderr
    if (label === 'child') assert.match(out, /BEFORE=\[\d+ \d+\]/, `${label}: both holders listed: ${out}`)
    assert.match(out, /STOPRC=0/, `${label}: ${out}`)
    assert.match(out, /AFTER=\[\]/, `${label}: nothing holds after stop: ${out}`)
    assert.match(out, /TAKERC=0/, `${label}: ${out} ${fs.readFileSync(path.join(dir, 'to.out'), 'utf8')}`)
    assert.match(out, /LEFT=\[\]/, `${label}: ${out}`)
  }
})
