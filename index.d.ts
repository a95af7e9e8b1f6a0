/**
 * pid-guard: only one copy of this service runs, and anyone can ask who holds it.
 *
 * @packageDocumentation
 */

/** `'exclusive'`: one holder. `'shared'`: any number of shared holders and no exclusive one. */
export type Mode = 'exclusive' | 'shared'

/** Small JSON object a holder records for others: port, health URL, version, anything. */
export type Meta = { [key: string]: unknown }

/** Stable error codes carried by {@link PidGuardError.code}. */
export type ErrorCode =
  | 'ELOCKED'
  | 'EINVALIDNAME'
  | 'EINVALIDOPTION'
  | 'EUNSAFEDIR'
  | 'EUNSAFEFILE'
  | 'ESYMLINK'
  | 'ENOTDIR'
  | 'EACCES'
  | 'EROFS'
  | 'ENOSPC'
  | 'EREMOTEFS'
  | 'ERELEASED'
  | 'EABORTED'
  | 'ENOTVERIFIED'
  | 'ENOTFOUND'
  | 'EIO'
  /** No native binary for this platform could be loaded (thrown by `require('pid-guard')` itself). */
  | 'ENOBINARY'

/** What a holder records about itself: in the lock file `N.lock` (exclusive), or `N.shared/<pid>.json` (shared). */
export interface HolderRecord {
  format: number
  name: string
  pid: number
  mode: Mode
  /** Opaque start-time token; equal tokens on the same boot mean the same process. */
  startId: string | null
  /** Start time of the holder, ms since the epoch. */
  startedAt: number | null
  bootId: string
  hostname: string
  uid: number | null
  exe: string | null
  cmdline: string[]
  /** When the guard was acquired, ms since the epoch. */
  acquiredAt: number
  pidGuardVersion: string
  /** The holder's fd that holds the lock (it proves the holder on Linux: the kernel shows the lock on that fd); `null` when not known. */
  lockFd: number | null
  /** The PID namespace `pid` lives in (Linux: inode of `/proc/self/ns/pid`); a record from another namespace is never judged by its pid. */
  pidNs?: number | null
  meta: Meta
}

/** One holder (or, in a stale status, what the leftover files name). */
export interface Holder {
  /**
   * `null` when the lock is held by a process this user cannot see (another user's, or one in
   * another PID namespace, e.g. a container sharing the directory): nothing is signalled then.
   */
  pid: number | null
  mode: Mode | null
  /** The process exists now (with `pid: null`: the lock is held). */
  alive: boolean
  /**
   * Proven to hold the lock now: on Linux the kernel shows the lock on one of its own fds;
   * elsewhere it is alive with the recorded start time and boot while the lock is busy. Only a
   * verified holder is ever signalled (stop, takeover). Always `false` in a stale status.
   */
  verified: boolean
  /** The user it runs as (from the process, or the lock file's owner when the holder is unseen). */
  uid: number | null
  /** Start time of the live process, ms since the epoch. */
  startedAt: number | null
  pidPath: string | null
  record: HolderRecord | null
  /** `record.meta`, or `null` without a record. */
  meta: Meta | null
  /** How it was found: from the pid file, the record, or the kernel (the lock seen on its fds, or an unseen holder). */
  source: 'pidfile' | 'record' | 'kernel' | 'port'
}

/** What an acquire found left by a holder that is gone, and removed. */
export interface Recovered {
  pid: number | null
  startedAt: number | null
  /** Why it was judged stale, e.g. `process 123 is not running`. */
  reason: string
  /** Files removed. */
  removed: string[]
  /** Takeover: signals sent to the old holder, in order (`['SIGTERM']` or `['SIGTERM', 'SIGKILL']`). */
  signals?: string[]
  /** Takeover: how long the old holder took to let go, in ms. */
  waitedMs?: number
  /**
   * Processes the old holder started that still run (they carry its marker). The new record
   * keeps naming that holder until they are gone, so `status`, `health` and `check` keep
   * seeing them. With `onConflict: 'takeover'` the verified ones are stopped (`signals`).
   */
  orphans?: Orphan[]
}

/**
 * A process carrying a guard's holder marker: the variable `PID_GUARD_HOLDER_<hash>` (one per
 * guard; value `pid=<holder pid> start=<holder start id> guard=<lock file>`) that `acquire` sets
 * in `process.env`, so every child spawned while the guard is held inherits it (`pid-guard run`
 * passes it to the command); `release` removes it. Read from `/proc/PID/environ` (Linux).
 */
export interface Orphan {
  pid: number
  /** Its own start id, read from /proc now; `null` when unreadable. */
  startId: string | null
  startedAt: number | null
  uid: number | null
  exe: string | null
  cmdline: string[] | null
  /** The holder its marker names. */
  mark: { pid: number; startId: string }
  /** TCP ports it listens on; `null` when its sockets cannot be read. */
  ports: number[] | null
  /**
   * May be signalled as the holder's: it runs as the holder's user, in this PID namespace, and
   * its identity was read now. Otherwise `problem` says why it is unknown, and it is never
   * signalled.
   */
  verified: boolean
  problem: string | null
}

export interface AcquireOptions {
  /** Directory for the guard's files. Default: `$PID_GUARD_DIR`, else `$XDG_RUNTIME_DIR/pid-guard`, else `<tmpdir>/pid-guard-<uid>`. */
  dir?: string
  /** Default `'exclusive'`. */
  mode?: Mode
  /** Recorded with the holder for `status`, `list` and health checks (at most 16 KiB as JSON). */
  meta?: Meta
  /** Remove the pid file on exit, uncaught exception, SIGINT, SIGTERM and SIGHUP. Default `true`. */
  cleanup?: boolean
  /**
   * When another process holds the guard: `'fail'` (default) throws `ELOCKED`; `'wait'` waits for
   * the release itself (up to `timeoutMs`, then `ELOCKED`); `'takeover'` sends the verified holder
   * `takeoverSignal`, waits up to `graceMs` for the lock, then SIGKILLs it and acquires.
   */
  onConflict?: 'fail' | 'wait' | 'takeover'
  /** `'wait'`: give up after this many ms (default: wait forever). `'takeover'`: how long to wait after SIGKILL (default 10000). */
  timeoutMs?: number
  /** `'takeover'`: how long the old holder gets to exit after `takeoverSignal` (default 5000). */
  graceMs?: number
  /** `'takeover'`: the first signal (default `'SIGTERM'`). Windows: SIGTERM, SIGINT, SIGHUP, SIGBREAK or SIGKILL only; SIGKILL is TerminateProcess, the others WM_CLOSE to a windowed process (the grace then applies), else TerminateProcess. */
  takeoverSignal?: string
}

/**
 * The part of an `AbortSignal` pid-guard uses, declared here so these types check without
 * `@types/node` or the DOM library; a real `AbortSignal` fits it.
 */
export interface AbortSignalLike {
  readonly aborted: boolean
  readonly reason?: unknown
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}

export interface AcquireAsyncOptions extends AcquireOptions {
  /** Aborts a wait or takeover; the promise rejects with `EABORTED`. */
  signal?: AbortSignalLike
}

export interface StopOptions {
  dir?: string
  /** Default `'SIGTERM'`. */
  signal?: string
  /** How long to wait for the exit, default 10000 ms. */
  timeoutMs?: number
  /** SIGKILL after `timeoutMs` if still running (nothing else: it never widens who is signalled). */
  force?: boolean
}

export interface StopReport {
  name: string | null
  stopped: Array<{ pid: number; signals: string[]; exited: boolean; waitedMs: number }>
  /** Every process exited (and none was left unsignalled). */
  ok: boolean
  /** Orphans found but not signalled (not verified), with why. */
  notSignalled?: Array<{ pid: number; why: string }>
}

export interface DirOptions {
  /** Same default as {@link AcquireOptions.dir}. */
  dir?: string
}

/** A held guard. It stays held until {@link Guard.release} or process exit, even if dropped. */
export declare class Guard implements Disposable {
  private constructor()
  readonly name: string
  readonly pid: number
  readonly mode: Mode
  readonly dir: string
  /** Holds the PID and a newline, nothing else (`kill $(cat pidPath)` works). */
  readonly pidPath: string
  /** The file the kernel lock is taken on. */
  readonly lockPath: string
  /** Where the JSON record is kept: the lock file itself for an exclusive guard, `N.shared/<pid>.json` for a shared one. */
  readonly recordPath: string
  /** Leftovers of holders that are gone, found and cleaned by this acquire. */
  readonly recovered: Recovered[]
  readonly meta: Meta
  readonly released: boolean
  /** Replaces the recorded meta; readers never act on a half-written record. Throws `ERELEASED` after release. */
  update(meta: Meta): void
  /** Removes the pid file and frees the lock. Idempotent. */
  release(): void
  [Symbol.dispose](): void
  toJSON(): object
}

export interface PidFileInfo {
  path: string
  exists: boolean
  /** Holds a PID pid-guard would believe (not empty, not garbage, not 0/1/negative/huge). */
  valid: boolean
  pid: number | null
  /** Why the content is unusable, when it is. */
  problem: string | null
}

export interface Status {
  name: string
  dir: string
  /**
   * `'stale'`: files left by a holder that is gone. `'orphaned'`: nothing holds the guard, but
   * processes a dead holder started still run (they carry its marker; `orphans` names them). A
   * command line proves nothing: a port owner without the marker leaves the guard `'stale'`
   * (see `portOwner`). `'unsafe'` (only from `list`): something at one
   * of the guard's paths is not trusted (a FIFO, directory or link), so it could not be read;
   * `problem` says what and where, and the other guards are listed as usual.
   */
  state: 'free' | 'held' | 'stale' | 'orphaned' | 'unsafe'
  mode: Mode | null
  /** Live holders when held (one exclusive, or every shared one); when stale, what the files name. */
  holders: Holder[]
  pidFile: PidFileInfo
  lockPath: string
  recordPath: string
  staleReason: string | null
  /**
   * `'kernel'`: the OS showed a holder (Linux: the lock on a process's fd); `'lock'`: decided by
   * trying the lock for an instant (busy = held, even when no holder can be seen);
   * `'process'`: by recorded identity (the lock could not be tried).
   */
  detection: 'kernel' | 'lock' | 'process'
  /** Not held, but the recorded port is listened on: by whom, and whether its command equals the recorded one (informational only). */
  portOwner: { port: number; pid: number | null; exe: string | null; cmdline: string[] | null; matchesRecord: boolean } | null
  /**
   * With state `'unsafe'`: why the guard could not be read (the error `status` throws). Otherwise:
   * something at the guard's paths that was not trusted and so was ignored (a symbolic link or
   * another user's directory at `N.shared`). `null` when there is nothing to say.
   */
  problem: { code: ErrorCode; message: string; path: string | null } | null
  /**
   * What a holder that is gone started and left running: the recorded holder's when it died
   * (its pid file is left), and earlier holders' the record still carries (a restart or `check`
   * found them). Also listed while a new holder holds. Empty when there are none (see
   * `orphansUnknown`).
   */
  orphans: Orphan[]
  /**
   * Why `orphans` cannot be known on this OS (it does not show other processes' environments,
   * so what a holder started cannot be told apart: Windows, and systems other than Linux and
   * macOS). An empty `orphans` with this set means "unknown", not "none". `null` otherwise.
   */
  orphansUnknown: string | null
}

/** Every error pid-guard throws. */
export declare class PidGuardError extends Error {
  readonly name: 'PidGuardError'
  readonly code: ErrorCode
  /** The file or directory involved, when there is one. */
  readonly path?: string
  readonly errno?: number
  /** `ELOCKED`: every holder. */
  readonly holders?: Holder[]
  /** `ELOCKED`: the (first) holder. */
  readonly holder?: Holder
}

/**
 * Takes the guard `name` or throws `PidGuardError` (`ELOCKED` with `holder` when another process
 * holds it). Stale files of a holder that is gone are recovered and reported in `recovered`.
 *
 * @example
 * const { acquire } = require('pid-guard')
 * const guard = acquire('session-pool', { meta: { port: 8080 } })
 */
export declare function acquire(name: string, options?: AcquireOptions): Guard

/** {@link acquire} off the main thread: waiting and takeover never block the event loop. */
export declare function acquireAsync(name: string, options?: AcquireAsyncOptions): Promise<Guard>

/**
 * Stops the verified holder of guard `name` (or `{ pid }`): `signal`, wait for exit up to
 * `timeoutMs`, SIGKILL with `force`. Throws `ENOTFOUND` when not running, `ENOTVERIFIED` when the
 * holder cannot be proven to be the recorded process (nothing is signalled then).
 */
export declare function stop(target: string | { pid: number } | { port: number }, options?: StopOptions): Promise<StopReport>

/** Who holds `name`, without taking the lock or touching any file. */
export declare function status(name: string, options?: DirOptions): Status

/** Status of every guard in the directory, sorted by name. */
export declare function list(options?: DirOptions): Status[]

/** The package version. */
export declare const version: string

/**
 * Renders health results (from `health()` / `healthSync()`) in the Prometheus text exposition
 * format: one gauge family per metric (`pid_guard_up`, `pid_guard_healthy`, `pid_guard_cpu_percent`,
 * `pid_guard_memory_rss_bytes`, ...), samples labelled by the target: `name` for a guard, `port` for
 * a `{ port }` target, `pid` for a `{ pid }` target. Metrics that are `null` are left out, and no
 * series is emitted twice (a target given twice is rendered once). Throws `EINVALIDOPTION` for
 * anything but health objects.
 */
export declare function toPrometheus(health: Health | readonly Health[]): string

/** A TCP socket a process listens on. */
export interface ListeningSocket {
  /** Local address, e.g. `127.0.0.1`, `0.0.0.0`, `::1`, `::`. */
  address: string
  port: number
  family: 'ipv4' | 'ipv6'
}

/** The expected port (from `options.port` or the guard's recorded `meta.port`). */
export interface PortCheck {
  number: number
  /** Something (any process) listens on it; `null` when this OS cannot tell. */
  listening: boolean | null
  /**
   * The checked process or one of its descendants listens (a daemon whose server is its child is
   * healthy); `null` when that cannot be told (another user's process).
   */
  ownedByPid: boolean | null
  /** The pid that listens on it, when known: the checked pid, or the descendant's. */
  owner: number | null
}

/** The result of the HTTP GET of the health URL. */
export interface EndpointCheck {
  url: string
  /** A 2xx status arrived within the timeout. */
  ok: boolean
  /** HTTP status code, `null` without a response. */
  status: number | null
  /** Time until the whole response arrived, in ms; `null` without a response. */
  latencyMs: number | null
  /** The response body: parsed when it is JSON, else the text; `null` when empty or none. */
  body: unknown
  /** Why there is no usable response (`timed out after 2000 ms`, `connection refused (ECONNREFUSED)`...). */
  error: string | null
}

/** One expected field of the endpoint's JSON body (`options.expect` or the recorded `meta.health.expect`). */
export interface Expectation {
  /** Dotted path into the body, e.g. `sessions.stuck`. */
  field: string
  expected: unknown
  /** The body's value, `null` when not read. */
  actual: unknown
  /** Met; `null` when not checked ({@link healthSync}, or the target is not running and has no endpoint). */
  ok: boolean | null
}

/** How a process is doing. Missing figures are `null` (not running, or not ours to read). */
export interface Health {
  /** The guard name, when the target was one. */
  name: string | null
  /** What was checked, as given; Prometheus samples are labelled by it (name, port or pid). */
  target: HealthTarget
  pid: number | null
  /**
   * The process exists (a zombie counts as not running). A guard whose lock is held by a process
   * this user cannot see (another user's, another PID namespace) is `alive` with `pid: null` and a
   * problem saying its figures cannot be read.
   */
  alive: boolean
  /** Start time of the process, ms since the epoch. */
  startedAt: number | null
  uptimeMs: number | null
  /** CPU use over `sampleMs`, in percent of one core (like `top`, can exceed 100); `null` from {@link healthSync} or with `sampleMs: 0`. */
  cpuPercent: number | null
  /** Resident (exact, as `ps` and `top` show it: /proc/PID/statm on Linux) and virtual memory, in bytes. */
  memory: { rss: number; virtual: number } | null
  threads: number | null
  /** Number of live descendant processes (filtered by `options.children` when given). */
  children: number | null
  /**
   * Every TCP socket the process listens on (Linux; macOS through libproc). `null` when they
   * cannot be read (another user's process, or an OS without support yet): unknown, not none; a
   * problem says why.
   */
  listening: ListeningSocket[] | null
  /** Present when a port is expected. */
  port: PortCheck | null
  /** Present when a health URL is known ({@link health} only). */
  endpoint: EndpointCheck | null
  /** The expected body fields and whether each is met (empty without expectations). */
  expectations: Expectation[]
  /**
   * For a guard: what a dead holder started and left running (each is a problem: `the holder of
   * "web" (pid 12) is gone, and pid 34 (...) it started still serves port 8080; ...`). `null`
   * for a pid or port target, and where the OS cannot read other processes' environments
   * (Windows): unknown, not none.
   */
  orphans: Orphan[] | null
  /**
   * For a held guard: processes carrying its holder's marker that are no longer its descendants
   * (reparented: a leaked session); each is a problem. `null` for a pid or port target, and
   * where the OS cannot tell (as for `orphans`).
   */
  strays: Orphan[] | null
  /** Running and no problems. */
  healthy: boolean
  /** One plain sentence per failed check, e.g. `nothing listens on port 8080`. */
  problems: string[]
}

/**
 * What to check: a guard name (its holder and recorded `meta.port` / `meta.healthUrl` / `meta.url` /
 * `meta.health`), a pid, or whoever listens on a TCP port (one whose owner this user cannot see
 * is `alive` with `pid: null`).
 */
export type HealthTarget = string | { pid: number } | { port: number }

export interface HealthOptions {
  /** Guard directory, for a guard-name target. */
  dir?: string
  /** Port the process should listen on (overrides the recorded `meta.port`). */
  port?: number
  /**
   * Health URL to GET (overrides the recorded `meta.healthUrl` / `meta.url`). http: or https:
   * (Mozilla's roots and `NODE_EXTRA_CA_CERTS` are trusted); redirects are not followed.
   */
  url?: string
  /** CPU sampling window in ms. Default 200; 0 takes no window (`cpuPercent` is null). */
  sampleMs?: number
  /** Endpoint timeout in ms, over the whole exchange (connect, TLS, response). Default 2000. */
  timeoutMs?: number
  /**
   * Count only descendants whose command name contains this string, or that match this RegExp
   * (name or command line). The RegExp runs in Rust's `regex` crate: flags `i`, `m`, `s` apply
   * (`g`, `y`, `u`, `v`, `d` change nothing); look-around and backreferences throw `EINVALIDOPTION`.
   */
  children?: string | RegExp
  /**
   * Fields the endpoint's JSON body must have: `{ 'sessions.stuck': 0 }` (dotted paths, equality,
   * numbers compared as numbers). Each unmet one is a problem. Overrides `meta.health.expect`.
   * {@link healthSync} does not probe the endpoint: there each is reported with `ok: null`.
   */
  expect?: Record<string, unknown>
  /** At least this many descendants (after `children`), else a problem. Overrides `meta.health.minChildren`. */
  minChildren?: number
}

/**
 * What a holder may record as `meta.health` so that `health(name)` and `pid-guard health NAME`
 * check it without options: `acquire(name, { meta: { port, url, health: { expect: { stuck: 0 }, minChildren: 1, children: 'worker' } } })`.
 * `children` is text, or `"/regex/flags"`.
 */
export interface RecordedHealth {
  expect?: Record<string, unknown>
  minChildren?: number
  children?: string
}

/**
 * Health of a guard's holder, a pid, or the process listening on a port: CPU over a window,
 * memory, threads, descendants, listening ports, the expected port and the health endpoint.
 * Work runs off the main thread. A target that is not running (unknown name, dead pid, nobody on
 * the port, another user's process) gives `alive: false` or a problem, not an error; invalid
 * arguments throw `PidGuardError` `EINVALIDOPTION` (`EINVALIDNAME` for a malformed guard name).
 *
 * @example
 * const h = await health('session-pool')
 * if (!h.healthy) console.error(h.problems.join('\n'))
 */
export declare function health(target: HealthTarget, options?: HealthOptions): Promise<Health>

/**
 * The parts of {@link health} that need no waiting, synchronously: `cpuPercent` and `endpoint`
 * are `null` (`sampleMs`, `timeoutMs` and the URL are ignored), and expectations are unchecked
 * (`ok: null`), which makes a target that has them unhealthy here.
 */
export declare function healthSync(target: HealthTarget, options?: HealthOptions): Health
