'use strict'
// health / healthSync: argument checks, guard-name lookup and the endpoint probe over the native
// process check (src/health). The native part runs on the libuv pool for health(); the HTTP GET
// runs here (a plain socket for http:, node:https for https:), at the same time as the CPU window.

const path = require('node:path')
const { isDeepStrictEqual } = require('node:util')
const { binding, call } = require('./native')
const { invalidOption } = require('./errors')
const { status } = require('./guard')

const OPTION_KEYS = new Set(['dir', 'port', 'url', 'sampleMs', 'timeoutMs', 'children', 'expect', 'minChildren'])
const META_HEALTH_KEYS = new Set(['expect', 'minChildren', 'children'])
const DEFAULT_SAMPLE_MS = 200
const DEFAULT_TIMEOUT_MS = 2000
const MAX_BODY = 1024 * 1024
/** The largest pid anything accepts: the core's pidfile::MAX_PID (i32::MAX, what kill(2) takes). */
const MAX_PID = 0x7fffffff

const describe = (v) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`)

function isPort(v) {
  return Number.isInteger(v) && v >= 1 && v <= 65535
}

function checkPort(v, where) {
  if (!isPort(v)) throw invalidOption(`${where} must be a TCP port number from 1 to 65535, not ${describe(v)}`)
  return v
}

function checkInt(v, where, min, max) {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw invalidOption(`${where} must be a whole number of milliseconds from ${min} to ${max}, not ${describe(v)}`)
  }
  return v
}

/** A URL string pid-guard can GET, or null with the reason. */
function parseUrl(v) {
  if (typeof v !== 'string') return { error: `must be an http:// or https:// URL string, not ${describe(v)}` }
  let u
  try {
    u = new URL(v)
  } catch {
    return { error: `is not a valid URL: ${JSON.stringify(v)}` }
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { error: `must use http: or https:, not ${u.protocol} (${v})` }
  return { url: u.href }
}

function parseTarget(target) {
  if (typeof target === 'string') return { name: target }
  if (target === null || typeof target !== 'object' || Array.isArray(target)) {
    throw invalidOption(`the health target must be a guard name, { pid } or { port }, not ${describe(target)}`)
  }
  const keys = Object.keys(target)
  if (keys.length !== 1 || (keys[0] !== 'pid' && keys[0] !== 'port')) {
    throw invalidOption(`the health target must be a guard name, { pid } or { port } (exactly one key), not an object with ${keys.length ? keys.map((k) => JSON.stringify(k)).join(', ') : 'no keys'}`)
  }
  if (keys[0] === 'pid') {
    const pid = target.pid
    if (!Number.isInteger(pid) || pid < 1 || pid > MAX_PID) {
      throw invalidOption(`target.pid must be a process id (a whole number >= 1), not ${describe(pid)}`)
    }
    return { pid }
  }
  return { port: checkPort(target.port, 'target.port') }
}

function parseOptions(options) {
  if (options === undefined || options === null) options = {}
  if (typeof options !== 'object' || Array.isArray(options)) throw invalidOption(`health options must be an object, not ${describe(options)}`)
  for (const k of Object.keys(options)) {
    if (!OPTION_KEYS.has(k)) throw invalidOption(`unknown health option "${k}" (known: ${[...OPTION_KEYS].join(', ')})`)
  }
  const o = {
    dir: undefined,
    port: undefined,
    url: undefined,
    sampleMs: DEFAULT_SAMPLE_MS,
    timeoutMs: DEFAULT_TIMEOUT_MS,
    children: undefined,
    expect: undefined,
    minChildren: undefined,
  }
  if (options.dir !== undefined && options.dir !== null) {
    if (typeof options.dir !== 'string') throw invalidOption(`options.dir must be a directory path string, not ${describe(options.dir)}`)
    o.dir = options.dir
  }
  if (options.port !== undefined && options.port !== null) o.port = checkPort(options.port, 'options.port')
  if (options.url !== undefined && options.url !== null) {
    const u = parseUrl(options.url)
    if (u.error) throw invalidOption(`options.url ${u.error}`)
    o.url = u.url
  }
  // 0: no CPU window (cpuPercent is null), e.g. for an endpoint probe alone.
  if (options.sampleMs !== undefined) o.sampleMs = checkInt(options.sampleMs, 'options.sampleMs', 0, 60000)
  if (options.timeoutMs !== undefined) o.timeoutMs = checkInt(options.timeoutMs, 'options.timeoutMs', 1, 600000)
  if (options.children !== undefined && options.children !== null) {
    const c = options.children
    if (!(c instanceof RegExp) && (typeof c !== 'string' || c === '')) {
      throw invalidOption(`options.children must be a non-empty string (part of the command name) or a RegExp, not ${describe(c)}`)
    }
    o.children = c
  }
  if (options.expect !== undefined && options.expect !== null) {
    const e = checkExpect(options.expect)
    if (e.error) throw invalidOption(`options.expect ${e.error}`)
    o.expect = e.expect
  }
  if (options.minChildren !== undefined && options.minChildren !== null) {
    const m = checkMinChildren(options.minChildren)
    if (m.error) throw invalidOption(`options.minChildren ${m.error}`)
    o.minChildren = m.value
  }
  return o
}

/** `{ 'dotted.path': value }`: the fields the endpoint's JSON body must have. */
function checkExpect(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { error: `must be an object of { "field.path": value }, not ${describe(v)}` }
  const keys = Object.keys(v)
  if (!keys.length) return { error: 'must name at least one field' }
  for (const k of keys) {
    if (k === '' || k.split('.').some((p) => p === '')) return { error: `has an empty field name in ${JSON.stringify(k)} (use dotted paths like "sessions.stuck")` }
    if (v[k] === undefined || typeof v[k] === 'function' || typeof v[k] === 'symbol' || typeof v[k] === 'bigint') return { error: `.${k} must be a JSON value, not ${typeof v[k]}` }
  }
  return { expect: { ...v } }
}

function checkMinChildren(v) {
  if (!Number.isInteger(v) || v < 0 || v > 1_000_000) return { error: `must be a whole number from 0 to 1000000, not ${describe(v)}` }
  return { value: v }
}

/** A children filter recorded as JSON: text, or "/regex/flags". */
function metaChildren(v) {
  if (typeof v !== 'string' || v === '') return { error: `must be a non-empty string (text, or "/regex/flags"), not ${describe(v)}` }
  const m = /^\/(.+)\/([a-z]*)$/.exec(v)
  if (!m) return { value: v }
  try {
    return { value: new RegExp(m[1], m[2]) }
  } catch (err) {
    return { error: `is not a valid regular expression: ${err.message}` }
  }
}

/**
 * `meta.health = { expect, minChildren, children }` recorded by the holder: used where the
 * caller gave no option of its own; what is malformed becomes a problem, not an exception.
 */
function applyMetaHealth(p, name, mh) {
  if (mh === undefined || mh === null) return
  if (typeof mh !== 'object' || Array.isArray(mh)) {
    p.problems.push(`guard "${name}" recorded meta.health as ${describe(mh)}, not an object like { expect: { stuck: 0 }, minChildren: 1 }`)
    return
  }
  for (const k of Object.keys(mh)) {
    if (!META_HEALTH_KEYS.has(k)) p.problems.push(`guard "${name}" recorded an unknown meta.health.${k} (known: ${[...META_HEALTH_KEYS].join(', ')})`)
  }
  if (p.o.expect === undefined && mh.expect !== undefined && mh.expect !== null) {
    const e = checkExpect(mh.expect)
    if (e.error) p.problems.push(`guard "${name}" recorded meta.health.expect that ${e.error}`)
    else p.o.expect = e.expect
  }
  if (p.o.minChildren === undefined && mh.minChildren !== undefined && mh.minChildren !== null) {
    const m = checkMinChildren(mh.minChildren)
    if (m.error) p.problems.push(`guard "${name}" recorded meta.health.minChildren that ${m.error}`)
    else p.o.minChildren = m.value
  }
  if (p.o.children === undefined && mh.children !== undefined && mh.children !== null) {
    const c = metaChildren(mh.children)
    if (c.error) p.problems.push(`guard "${name}" recorded meta.health.children that ${c.error}`)
    else p.o.children = c.value
  }
}

/** A port recorded in a guard's meta: a number or a numeric string. */
function metaPort(v) {
  if (typeof v === 'string' && /^\d{1,5}$/.test(v.trim())) v = Number(v.trim())
  return isPort(v) ? v : null
}

/**
 * Everything decided before the native check: which pid or port, the expected port and URL,
 * and the problems already known (a guard nobody holds).
 */
function plan(target, options) {
  const t = parseTarget(target)
  const o = parseOptions(options)
  const p = { name: null, target: t.name ?? (t.pid !== undefined ? { pid: t.pid } : { port: t.port }), native: null, pid: null, port: o.port ?? null, url: o.url ?? null, problems: [], orphans: null, strays: null, o }
  if (t.pid !== undefined) p.native = { pid: t.pid }
  else if (t.port !== undefined) p.native = { port: t.port }
  else {
    p.name = t.name
    const st = status(t.name, { dir: o.dir })
    const holder = st.holders.find((h) => h.alive) ?? st.holders[0] ?? null
    const meta = holder?.meta ?? null
    // What a dead holder started and left running (proven by its marker): unhealthy, named.
    p.orphans = st.orphans ?? []
    const deadPid = st.holders.find((h) => !h.alive)?.pid ?? null
    for (const o of p.orphans) {
      // The holder that started it, as its marker names it (under `run` too: it execs the
      // command, whose pid is the one recorded).
      p.problems.push(orphanSentence(t.name, o.mark.pid, o, meta?.port))
    }
    if (st.state === 'held' && holder?.pid) {
      p.native = { pid: holder.pid }
      // Marked processes that left the holder's tree (reparented): stray sessions.
      p.strays = JSON.parse(call(() => binding.strays(t.name, o.dir ?? null)))
      for (const s of p.strays) {
        p.problems.push(`pid ${s.pid} (${commandOf(s)}) carries the marker of "${t.name}"'s holder (pid ${holder.pid}) but is no longer its descendant: a stray session${s.verified ? '' : ` (${s.problem})`}`)
      }
    } else if (st.state === 'orphaned') {
      p.pid = deadPid
    } else if (st.state === 'held') {
      // The lock is busy but its holder cannot be seen from here (another user's process, or
      // another PID namespace): running, figures unknown; never "not running".
      p.heldUnseen = true
      p.problems.push(`guard "${t.name}" is held by a process this user cannot see (another user's, or in another PID namespace); its figures cannot be read from here`)
    } else {
      // A stale holder's pid may belong to another process by now: it is reported, not inspected.
      p.pid = holder?.pid ?? null
      p.problems.push(
        st.state === 'stale'
          ? `guard "${t.name}" is not held: ${st.staleReason ?? `process ${p.pid} is not running`}`
          : `no process holds the guard "${t.name}" (nothing in ${st.dir})`,
      )
    }
    if (meta && typeof meta === 'object') {
      if (p.port === null && meta.port !== undefined && meta.port !== null) {
        p.port = metaPort(meta.port)
        if (p.port === null) p.problems.push(`guard "${t.name}" recorded port ${describe(meta.port)}, which is not a TCP port number`)
      }
      const recorded = meta.healthUrl ?? meta.url
      if (p.url === null && recorded !== undefined && recorded !== null) {
        const u = parseUrl(recorded)
        if (u.error) p.problems.push(`guard "${t.name}" recorded a health URL that ${u.error}`)
        else p.url = u.url
      }
      applyMetaHealth(p, t.name, meta.health)
    }
  }
  return p
}

function commandOf(o) {
  return o.cmdline?.length ? o.cmdline.join(' ') : (o.exe ?? 'command unknown')
}

/** "the holder of "web" (pid 12) is gone, and pid 34 (node server.js) still serves port 8080". */
function orphanSentence(name, deadPid, o, recordedPort) {
  const holder = `the holder of "${name}" (pid ${deadPid}) is gone`
  const ports = o.ports ?? null
  const port = ports?.includes(recordedPort) ? recordedPort : ports?.[0]
  const what = port !== undefined && port !== null ? `still serves port ${port}` : ports === null ? 'is still running (its sockets cannot be read)' : 'is still running'
  const verdict = o.verified ? `stop it with \`pid-guard stop ${name}\`` : `it is not verified: ${o.problem}`
  return `${holder}, and pid ${o.pid} (${commandOf(o)}) it started ${what}; ${verdict}`
}

function nativeArgs(p, sampleMs) {
  const opts = { childList: p.o.children !== undefined }
  if (sampleMs) opts.sampleMs = sampleMs
  if (p.port !== null) opts.port = p.port
  return [JSON.stringify(p.native), JSON.stringify(opts)]
}

function childMatcher(f) {
  if (typeof f === 'string') {
    return (c) => c.name.includes(f) || (c.cmdline?.length > 0 && path.basename(c.cmdline[0]).includes(f))
  }
  return (c) => {
    f.lastIndex = 0
    if (f.test(c.name)) return true
    f.lastIndex = 0
    return c.cmdline ? f.test(c.cmdline.join(' ')) : false
  }
}

const NUMERIC = /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i

function asNumber(v) {
  if (typeof v === 'number') return v
  if (typeof v === 'string' && NUMERIC.test(v)) return Number(v)
  return null
}

/** Equality of a body field with what was expected: numbers as numbers ("3" equals 3). */
function sameValue(actual, expected) {
  const a = asNumber(actual)
  const e = asNumber(expected)
  if (a !== null && e !== null) return a === e
  if (typeof expected === 'string' && (actual === null || typeof actual === 'string' || typeof actual === 'boolean')) return String(actual) === expected
  return isDeepStrictEqual(actual, expected)
}

function shown(v) {
  const t = JSON.stringify(v) ?? String(v)
  return t.length > 60 ? `${t.slice(0, 57)}...` : t
}

/** Looks `field` ("a.b.0") up in `body`: { found, value }. */
function lookup(body, field) {
  let v = body
  for (const k of field.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, k)) return { found: false, value: null }
    v = v[k]
  }
  return { found: true, value: v }
}

/**
 * Checks the expected body fields. `endpoint` undefined: not probed (healthSync), so each
 * expectation is unknown (ok: null), not failed. One sentence per unmet or uncheckable field.
 */
function checkExpectations(expect, endpoint, problems) {
  if (!expect) return []
  return Object.entries(expect).map(([field, expected]) => {
    const x = { field, expected, actual: null, ok: null }
    if (endpoint === undefined) return x
    const body = endpoint?.body
    if (!endpoint) {
      problems.push(`cannot check ${field} = ${shown(expected)}: no health URL is known (give url, or record meta.url)`)
    } else if (body === null || typeof body !== 'object') {
      problems.push(`cannot check ${field} = ${shown(expected)}: GET ${endpoint.url} gave ${body === null ? 'no body' : 'a body that is not JSON'}`)
    } else {
      const got = lookup(body, field)
      if (!got.found) {
        x.ok = false
        problems.push(`the body of GET ${endpoint.url} has no field ${field} (expected ${shown(expected)})`)
      } else {
        x.actual = got.value
        x.ok = sameValue(got.value, expected)
        if (!x.ok) problems.push(`${field} is ${shown(got.value)}, expected ${shown(expected)} (GET ${endpoint.url})`)
      }
    }
    return x
  })
}

function filterText(f) {
  return f instanceof RegExp ? String(f) : JSON.stringify(f)
}

/** The Health object from the plan, the native report (or null) and the endpoint result. */
function assemble(p, report, endpoint, probed) {
  const r = report ?? {}
  let children = r.children ?? null
  if (r.childList && p.o.children !== undefined) children = r.childList.filter(childMatcher(p.o.children)).length
  const problems = [...p.problems, ...(r.problems ?? []), ...(endpoint?.problem ? [endpoint.problem] : [])]
  if (endpoint) delete endpoint.problem
  const alive = r.alive ?? p.heldUnseen ?? false
  const min = p.o.minChildren
  if (min !== undefined && typeof children === 'number' && children < min) {
    const what = `${children} child process${children === 1 ? '' : 'es'}${p.o.children !== undefined ? ` matching ${filterText(p.o.children)}` : ''}`
    problems.push(`${what}, fewer than the ${min} expected`)
  } else if (min !== undefined && children === null && alive) {
    problems.push(`the child processes cannot be counted (hidden from this user), so at least ${min} cannot be confirmed`)
  }
  // Not running and no endpoint to ask: the expectations are unknown, "not running" says why.
  const asked = probed && (endpoint || alive) ? endpoint : undefined
  const expectations = checkExpectations(p.o.expect, asked, problems)
  // Unchecked is not met: healthSync never calls the endpoint, so it cannot say healthy.
  if (!probed && alive && expectations.length) {
    problems.push(`expected ${expectations.map((x) => `${x.field} = ${shown(x.expected)}`).join(', ')} not checked: healthSync does not call the endpoint; health() does`)
  }
  return {
    name: p.name,
    target: p.target,
    pid: r.pid ?? p.pid,
    alive,
    startedAt: r.startedAt ?? null,
    uptimeMs: r.uptimeMs ?? null,
    cpuPercent: r.cpuPercent ?? null,
    memory: r.memory ?? null,
    threads: r.threads ?? null,
    children,
    // null: the sockets could not be read (another user's process): unknown, not none.
    listening: r.listening === undefined ? [] : r.listening,
    port: r.port ?? null,
    endpoint: endpoint ?? null,
    expectations,
    // For a guard: what a dead holder left running, and marked processes outside the live
    // holder's tree; null for a pid or port target.
    orphans: p.orphans,
    strays: p.strays ?? (p.name !== null ? [] : null),
    healthy: alive && problems.length === 0,
    problems,
  }
}

/** GETs `url` with a deadline; never rejects. */
function probe(url, timeoutMs) {
  return new Promise((resolve) => {
    const ep = { url, ok: false, status: null, latencyMs: null, body: null, error: null, problem: null }
    const start = process.hrtime.bigint()
    const elapsed = () => Math.round(Number(process.hrtime.bigint() - start) / 1e4) / 100
    let done = false
    let timer
    let cancel = () => {}
    const finish = (error, problem) => {
      if (done) return
      done = true
      clearTimeout(timer)
      cancel()
      if (error) {
        ep.ok = false
        ep.error = error
        ep.problem = problem ?? `GET ${url} failed: ${error}`
      }
      resolve(ep)
    }
    const onResponse = (statusCode, bodyBuffer) => {
      ep.status = statusCode
      ep.ok = statusCode >= 200 && statusCode < 300
      ep.latencyMs = elapsed()
      ep.body = parseBody(bodyBuffer.toString('utf8'))
      if (!ep.ok) ep.problem = `GET ${url} returned ${statusCode}`
      finish(null)
    }
    timer = setTimeout(() => finish(`timed out after ${timeoutMs} ms`, `GET ${url} timed out after ${timeoutMs} ms`), timeoutMs)
    try {
      cancel = url.startsWith('https:') ? getTls(url, onResponse, finish) : getPlain(url, onResponse, finish)
    } catch (err) {
      finish(errorText(err))
    }
  })
}

/**
 * Plain http: one HTTP/1.0 GET over a socket. The body ends at its Content-Length, at the last
 * chunk of a chunked body, or when the server closes: a keep-alive server that ignores
 * `Connection: close` answers without a timeout. Node's http client costs ~4 ms more on the
 * first request of a process, which is every request of a CLI run. Returns a cancel function.
 */
function getPlain(url, onResponse, fail) {
  const u = new URL(url)
  const net = require('node:net')
  const host = u.hostname.replace(/^\[|\]$/g, '')
  const socket = net.connect({ host, port: Number(u.port) || 80 })
  const chunks = []
  let size = 0
  let answered = false
  // Parses what arrived; with `atEnd` (the server closed) whatever there is is the response.
  const complete = (atEnd) => {
    if (answered) return
    const raw = Buffer.concat(chunks)
    const headEnd = raw.indexOf('\r\n\r\n')
    const m = /^HTTP\/\d\.\d (\d{3})/.exec(raw.subarray(0, Math.min(raw.length, 32)).toString('latin1'))
    if (headEnd < 0 || !m) {
      if (atEnd) fail('not an HTTP response')
      return
    }
    const head = raw.subarray(0, headEnd).toString('latin1')
    let body = raw.subarray(headEnd + 4)
    const chunked = /^transfer-encoding:\s*chunked/im.test(head)
    const length = /^content-length:\s*(\d+)\s*$/im.exec(head)
    if (!atEnd) {
      if (chunked ? !chunkedDone(body) : !length || body.length < Number(length[1])) return
    }
    answered = true
    socket.destroy()
    // A server may chunk even for HTTP/1.0; decode it rather than show chunk sizes.
    if (chunked) body = dechunk(body)
    else if (length) body = body.subarray(0, Number(length[1]))
    if (body.length > MAX_BODY) {
      fail(`the response body is larger than ${MAX_BODY} bytes`)
      return
    }
    onResponse(Number(m[1]), body)
  }
  socket.on('connect', () => {
    // write, not end: a half-close makes some servers drop the request unanswered.
    socket.write(
      `GET ${u.pathname}${u.search} HTTP/1.0\r\nHost: ${u.host}\r\n` +
        'Accept: application/json, */*;q=0.5\r\nConnection: close\r\nUser-Agent: pid-guard\r\n\r\n',
    )
  })
  socket.on('data', (d) => {
    size += d.length
    if (size > MAX_BODY + 64 * 1024) {
      socket.destroy()
      fail(`the response body is larger than ${MAX_BODY} bytes`)
      return
    }
    chunks.push(d)
    complete(false)
  })
  socket.on('error', (err) => {
    if (!answered) fail(errorText(err))
  })
  socket.on('end', () => complete(true))
  return () => socket.destroy()
}

/** Whether a chunked body is complete: its last (zero-size) chunk and the trailer have arrived. */
function chunkedDone(buf) {
  let i = 0
  for (;;) {
    const eol = buf.indexOf('\r\n', i)
    if (eol < 0) return false
    const n = parseInt(buf.subarray(i, eol).toString('latin1'), 16)
    if (Number.isNaN(n)) return true // malformed: stop waiting, dechunk keeps what is readable
    if (n === 0) return buf.indexOf('\r\n\r\n', eol) >= 0 || buf.subarray(eol + 2, eol + 4).toString('latin1') === '\r\n'
    i = eol + 2 + n + 2
    if (i > buf.length) return false
  }
}

function dechunk(buf) {
  const out = []
  let i = 0
  while (i < buf.length) {
    const eol = buf.indexOf('\r\n', i)
    if (eol < 0) break
    const n = parseInt(buf.subarray(i, eol).toString('latin1'), 16)
    if (!(n > 0)) break
    out.push(buf.subarray(eol + 2, eol + 2 + n))
    i = eol + 2 + n + 2
  }
  return Buffer.concat(out)
}

/** https: Node's client (TLS is where it earns its keep). Returns a cancel function. */
function getTls(url, onResponse, fail) {
  const req = require('node:https').get(url, { agent: false, headers: { accept: 'application/json, */*;q=0.5', connection: 'close' } }, (res) => {
    const chunks = []
    let size = 0
    res.on('data', (d) => {
      size += d.length
      if (size > MAX_BODY) {
        res.destroy()
        fail(`the response body is larger than ${MAX_BODY} bytes`)
        return
      }
      chunks.push(d)
    })
    res.on('error', (err) => fail(errorText(err)))
    res.on('end', () => onResponse(res.statusCode, Buffer.concat(chunks)))
  })
  req.on('error', (err) => fail(errorText(err)))
  return () => req.destroy()
}

function parseBody(text) {
  if (text === '') return null
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const ERRNO_TEXT = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
}

function errorText(err) {
  if (err?.code && ERRNO_TEXT[err.code]) return `${ERRNO_TEXT[err.code]} (${err.code})`
  if (err?.code === 'HPE_INVALID_CONSTANT' || String(err?.code).startsWith('HPE_')) return `not an HTTP response (${err.code})`
  return err?.code ? `${err.message} (${err.code})` : String(err?.message ?? err)
}

/**
 * Health of a guard's holder, a pid or whoever listens on a port: process figures, CPU over
 * `sampleMs`, listening ports, descendants and the health endpoint. Never blocks the event loop.
 */
async function health(target, options) {
  const p = plan(target, options)
  const native = p.native
    ? call(() => binding.health(...nativeArgs(p, p.o.sampleMs))).catch((err) => call(() => { throw err }))
    : null
  const endpoint = p.url !== null ? probe(p.url, p.o.timeoutMs) : null
  const [report, ep] = await Promise.all([native, endpoint])
  return assemble(p, report ? JSON.parse(report) : null, ep, true)
}

/**
 * The parts of {@link health} that need no waiting: no CPU window (`cpuPercent` is null) and no
 * endpoint probe (`endpoint` is null).
 */
function healthSync(target, options) {
  const p = plan(target, options)
  const report = p.native ? JSON.parse(call(() => binding.healthSync(...nativeArgs(p)))) : null
  return assemble(p, report, null, false)
}

module.exports = { health, healthSync, MAX_PID }
