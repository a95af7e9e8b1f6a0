// Type test (ESM): uses the whole public API; `tsc -p __test__/types` must accept it.
import pidGuard, { acquire, acquireAsync, stop, status, list, PidGuardError, version, type Guard, type Status, type Holder, type StopReport } from 'pid-guard'

const g: Guard = acquire('types-esm', { dir: '/tmp/x', mode: 'shared', meta: { port: 1 }, cleanup: false })
const pid: number = g.pid
const paths: string[] = [g.pidPath, g.lockPath, g.recordPath, g.dir, g.name]
const mode: 'exclusive' | 'shared' = g.mode
for (const r of g.recovered) console.log(r.pid, r.reason, r.removed.join(','), r.startedAt)
g.update({ version: '1.2.3' })
g.release()
g[Symbol.dispose]()
{
  using scoped = acquire('types-esm-2')
  console.log(scoped.released)
}
const s: Status = status('types-esm')
const state: 'free' | 'held' | 'stale' | 'orphaned' | 'unsafe' = s.state
console.log(s.problem?.code, s.problem?.path)
console.log(s.portOwner?.matchesRecord)
for (const o of s.orphans) console.log(o.pid, o.verified, o.problem, o.mark.pid, o.mark.startId, o.ports?.[0], o.cmdline?.join(' '))
for (const r of g.recovered) console.log(r.orphans?.[0]?.pid)
const h: Holder | undefined = s.holders[0]
console.log(h?.pid, h?.alive, h?.verified, h?.meta, h?.record?.startedAt, s.pidFile.valid, s.staleReason)
const all: Status[] = list({ dir: '/tmp' })
try {
  acquire('x')
} catch (e) {
  if (e instanceof PidGuardError && e.code === 'ELOCKED') console.log(e.holder?.pid, e.holders?.length, e.path)
}
console.log(pid, paths, mode, state, all, version, pidGuard.version)
// @ts-expect-error: mode is a closed set
acquire('x', { mode: 'both' })

async function lifecycle(): Promise<void> {
  const ac = new AbortController()
  const w: Guard = await acquireAsync('x', { onConflict: 'wait', timeoutMs: 100, signal: ac.signal })
  const t: Guard = acquire('y', { onConflict: 'takeover', graceMs: 50, takeoverSignal: 'SIGTERM' })
  console.log(w.recovered[0]?.signals, t.recovered[0]?.waitedMs)
  const r: StopReport = await stop('x', { timeoutMs: 10, force: true, signal: 'SIGTERM' })
  const r2: StopReport = await stop({ pid: 123 })
  console.log(r.ok, r.stopped[0]?.exited, r2.name, r.notSignalled?.[0]?.why)
}
void lifecycle

async function orphans(): Promise<void> {
  const { healthSync } = await import('pid-guard')
  const r = healthSync('web')
  for (const o of r.orphans ?? []) console.log(o.pid, o.verified)
  for (const s of r.strays ?? []) console.log(s.pid, s.problem)
}
void orphans
