'use strict'
// `pid-guard health [name] [--pid N | --port N] [--url URL] [--json | --prometheus | --prometheus-file PATH] [--watch[=MS]]`:
// is the service running, how much CPU and memory it uses, does it listen on its port, does its
// health endpoint answer, are its body's fields and its children as expected. Exit 0 healthy,
// 1 unhealthy, 3 not running / unknown, 2 usage error.

const { writeOut, writeErr, onStdoutClosed, parse, UsageError, green, red, yellow, dim, duration } = require('./output')

const { MAX_PID } = require('../native').binding

const usage = `Usage: pid-guard health [name] [--pid N | --port N] [--url URL]
                        [--expect FIELD=VALUE]... [--min-children N] [--children F]
                        [--json | --prometheus | --prometheus-file PATH] [--watch[=MS]]
                        [--dir DIR]

Checks a guarded service: running, CPU, memory, the port it should listen on (its own or a
child's), its health endpoint (the JSON fields it answers with) and its child processes.
What the holder recorded is used unless given: acquire(name, { meta: { port, url,
health: { expect: { stuck: 0 }, minChildren: 1, children: 'worker' } } }).

Target (one of):
  name            a guard name (without one: every guard that has something running,
                  i.e. held, orphaned or stale; free guards are not checked)
  --pid N         the process N
  --port N        the process listening on TCP port N (with a name: the port it should use)

Options:
  --url URL       also probe this health endpoint (http:// or https://)
  --json          print the result as JSON
  --prometheus    print the result in the Prometheus text format
  --prometheus-file PATH
                  write it to PATH instead, atomically (a temp file in the same directory,
                  then rename: node_exporter's textfile collector never reads half a file);
                  with --watch, rewritten at every sample
  --watch[=MS]    sample again every MS milliseconds (default 2000) until Ctrl-C
  --sample MS     CPU sampling window (default: 200 for people, 0 = not sampled for
                  --json and --prometheus, so scripts stay fast; always 200 with --watch)
  --timeout MS    endpoint timeout (default 2000)
  --children F    count only descendants whose name matches F (text, or /regex/)
  --expect F=V    the endpoint's JSON body must have field F (dotted path: sessions.stuck)
                  equal to V (JSON, else text; numbers compare as numbers); repeatable
  --min-children N  at least N descendants (that match --children, if given)
  --dir DIR       the guard directory (or PID_GUARD_DIR)

Exit status: 0 healthy, 1 unhealthy, 3 not running or unknown name, 2 usage error.
Without a name: 0 when every checked guard is healthy, 1 when one is not, 3 when no guard
has anything running.
`

const DEFAULT_WATCH_MS = 2000

function integer(flag, text, min, max) {
  if (!/^\d+$/.test(text ?? '')) throw new UsageError(`${flag} expects a whole number, not "${text}"`)
  const n = Number(text)
  if (n < min || n > max) throw new UsageError(`${flag} must be between ${min} and ${max}, not ${n}`)
  return n
}

/** Parses argv into { target, options, format, watchMs }; throws UsageError for nonsense. */
function parseOptions(argv) {
  // `--watch` takes an optional value: a bare `--watch` must not swallow the next argument.
  const args = argv.map((a) => (a === '--watch' ? '--watch=' : a))
  const { values, positionals } = parse(args, {
    pid: { type: 'string' },
    port: { type: 'string' },
    url: { type: 'string' },
    prometheus: { type: 'boolean' },
    'prometheus-file': { type: 'string' },
    watch: { type: 'string' },
    sample: { type: 'string' },
    timeout: { type: 'string' },
    children: { type: 'string' },
    expect: { type: 'string', multiple: true },
    'min-children': { type: 'string' },
  })
  if (positionals.length > 1) throw new UsageError(`expects at most one guard name, got ${positionals.length}: ${positionals.join(' ')}`)
  const name = positionals[0]
  if (values.json && values.prometheus) throw new UsageError('--json and --prometheus cannot be used together: pick one output format')
  const promFile = values['prometheus-file']
  if (promFile !== undefined && values.json) throw new UsageError('--json and --prometheus-file cannot be used together: the file is in the Prometheus text format')
  if (promFile === '') throw new UsageError('--prometheus-file expects a file path, e.g. /var/lib/node_exporter/textfile/web.prom')
  if (values.pid !== undefined && values.port !== undefined) throw new UsageError('--pid and --port cannot be used together: give the process either by pid or by the port it listens on')
  if (name !== undefined && values.pid !== undefined) throw new UsageError(`a guard name ("${name}") and --pid cannot be used together: the guard already says which process it is`)

  const options = {}
  if (values.dir !== undefined) options.dir = values.dir
  if (values.url !== undefined) {
    let u
    try {
      u = new URL(values.url)
    } catch {
      throw new UsageError(`--url expects an absolute URL like http://127.0.0.1:8080/health, not "${values.url}"`)
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--url must be http:// or https://, not ${u.protocol}`)
    options.url = values.url
  }
  if (values.timeout !== undefined) options.timeoutMs = integer('--timeout', values.timeout, 1, 600000)
  if (values.children !== undefined) {
    const m = /^\/(.+)\/([a-z]*)$/.exec(values.children)
    if (m) {
      try {
        options.children = new RegExp(m[1], m[2])
      } catch (err) {
        throw new UsageError(`--children: invalid regular expression ${values.children}: ${err.message}`)
      }
    } else options.children = values.children
  }
  if (values.expect !== undefined) {
    options.expect = {}
    for (const e of values.expect) {
      const i = e.indexOf('=')
      if (i <= 0) throw new UsageError(`--expect expects FIELD=VALUE (like sessions.stuck=0), not "${e}"`)
      const field = e.slice(0, i)
      const text = e.slice(i + 1)
      let value = text
      try {
        value = JSON.parse(text)
      } catch {}
      options.expect[field] = value
    }
  }
  if (values['min-children'] !== undefined) options.minChildren = integer('--min-children', values['min-children'], 0, 1000000)

  let target
  if (values.pid !== undefined) target = { pid: integer('--pid', values.pid, 1, MAX_PID) }
  const port = values.port !== undefined ? integer('--port', values.port, 1, 65535) : undefined
  if (name !== undefined) {
    target = name
    if (port !== undefined) options.port = port
  } else if (port !== undefined) target = { port }

  const format = values.json ? 'json' : values.prometheus || promFile !== undefined ? 'prometheus' : 'human'
  let watchMs = null
  if (values.watch !== undefined) watchMs = values.watch === '' ? DEFAULT_WATCH_MS : integer('--watch', values.watch, 50, 86400000)
  const sampleMs = values.sample !== undefined
    ? integer('--sample', values.sample, 0, 60000)
    : watchMs !== null || format === 'human' ? 200 : 0
  return { target, options, format, watchMs, sampleMs, promFile }
}

// --- sampling ------------------------------------------------------------------------------

function isUsageLike(err) {
  return err?.name === 'PidGuardError' && (err.code === 'EINVALIDNAME' || err.code === 'EINVALIDOPTION')
}

/** One sample of one target: a Health, or { error } when the core refused (unknown name...). */
async function sampleOne(api, target, options, sampleMs) {
  try {
    return await api.health(target, { ...options, sampleMs })
  } catch (err) {
    if (isUsageLike(err)) throw new UsageError(err.message.replace(/^pid-guard: /, ''))
    if (err?.name !== 'PidGuardError') throw err
    return { error: err, target }
  }
}

/**
 * Every target of this invocation: the one given, or every guard in the directory that has
 * something running (held, orphaned, stale). A free guard (only its last holder's lock file is
 * left) is counted in `free`, not checked: it is not a service that is down.
 */
async function sample(api, opts) {
  if (opts.target !== undefined) return { all: false, free: [], results: [await sampleOne(api, opts.target, opts.options, opts.sampleMs)] }
  let statuses
  try {
    statuses = api.list({ dir: opts.options.dir })
  } catch (err) {
    if (isUsageLike(err)) throw new UsageError(err.message.replace(/^pid-guard: /, ''))
    if (err?.name !== 'PidGuardError') throw err
    return { all: true, free: [], results: [{ error: err }] }
  }
  const names = statuses.filter((s) => s.state !== 'free').map((s) => s.name)
  const free = statuses.filter((s) => s.state === 'free').map((s) => s.name)
  const results = await Promise.all(names.map((n) => sampleOne(api, n, opts.options, opts.sampleMs)))
  return { all: true, free, results }
}

function exitCode({ all, results }) {
  if (all) {
    if (!results.length || results.every((r) => r.error)) return 3
    return results.every((r) => !r.error && r.healthy) ? 0 : 1
  }
  const [r] = results
  // A dead holder's orphans still run: not "not running", unhealthy.
  if (!r.error && r.orphans?.length) return 1
  if (r.error || !r.alive) return 3
  return r.healthy ? 0 : 1
}

// --- rendering -----------------------------------------------------------------------------

function bytes(n) {
  if (typeof n !== 'number') return '?'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}

function targetText(target) {
  if (typeof target === 'string') return `"${target}"`
  if (target?.pid !== undefined) return `pid ${target.pid}`
  if (target?.port !== undefined) return `port ${target.port}`
  return 'the guard directory'
}

function fields(body) {
  if (body === null || body === undefined) return ''
  let text
  if (typeof body === 'object' && !Array.isArray(body)) {
    text = Object.entries(body).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')
  } else text = typeof body === 'string' ? `"${body.replace(/\s+/g, ' ')}"` : JSON.stringify(body)
  return text.length > 120 ? `${text.slice(0, 117)}...` : text
}

/** One line per check, each with a mark, for people. */
function describe(h) {
  const ok = green('✓')
  const bad = red('✗')
  const info = dim('-')
  const line = (mark, label, text) => `  ${mark} ${label.padEnd(9)} ${text}`
  if (h.error) return `${red('✗')} ${targetText(h.target)}: ${h.error.message.replace(/^pid-guard: /, '')}\n`

  const who = h.name != null
    ? `${h.name} (pid ${h.pid ?? 'unknown'})`
    : h.pid != null ? `pid ${h.pid}` : h.port ? `port ${h.port.number}` : 'process'
  const orphans = h.orphans ?? []
  const verdict = !h.alive && orphans.length ? red('orphaned') : !h.alive ? red('not running') : h.healthy ? green('healthy') : red('unhealthy')
  const lines = [`${who}: ${verdict}`]
  if (!h.alive) {
    lines.push(line(bad, 'running', orphans.length ? `no; the holder is gone, pid ${orphans.map((o) => o.pid).join(', ')} it started still running` : 'no'))
  } else {
    const up = typeof h.uptimeMs === 'number' ? `up ${duration(h.uptimeMs)}` : h.pid == null ? 'yes, pid unknown (another user\'s process?)' : 'up ?'
    const since = typeof h.startedAt === 'number' ? `, since ${new Date(h.startedAt).toISOString()}` : ''
    lines.push(line(ok, 'running', up + since))
    lines.push(line(typeof h.cpuPercent === 'number' ? ok : info, 'cpu', typeof h.cpuPercent === 'number' ? `${h.cpuPercent.toFixed(1)} %` : 'not sampled (--sample 200 measures it)'))
    const threads = typeof h.threads === 'number' ? `, ${h.threads} thread${h.threads === 1 ? '' : 's'}` : ''
    lines.push(line(h.memory ? ok : info, 'memory', h.memory ? `rss ${bytes(h.memory.rss)}, virtual ${bytes(h.memory.virtual)}${threads}` : 'unknown'))
  }
  if (h.port) {
    const p = h.port
    const text = !p.listening
      ? 'nothing listens on it'
      : p.ownedByPid === false
        ? 'listening, but by another process'
        : p.owner != null && h.pid != null && p.owner !== h.pid ? `listening (pid ${p.owner}, a child)` : 'listening'
    lines.push(line(p.listening && p.ownedByPid !== false ? ok : bad, `port ${p.number}`, text))
  } else if (h.alive && Array.isArray(h.listening) && h.listening.length) {
    const socks = h.listening.map((l) => (l.family === 'ipv6' ? `[${l.address}]:${l.port}` : `${l.address}:${l.port}`))
    lines.push(line(ok, 'listening', socks.join(', ')))
  } else if (h.alive && h.listening === null) {
    lines.push(line(info, 'listening', 'unknown (the sockets cannot be read)'))
  }
  if (h.endpoint) {
    const e = h.endpoint
    const latency = typeof e.latencyMs === 'number' ? ` in ${Math.round(e.latencyMs)} ms` : ''
    const status = e.status != null ? ` ${e.status}` : ''
    const err = e.error ? `: ${e.error}` : ''
    const body = fields(e.body)
    lines.push(line(e.ok ? ok : bad, 'endpoint', `${e.url}${status}${latency}${err}${body ? `  ${body}` : ''}`))
  }
  for (const x of h.expectations ?? []) {
    const mark = x.ok === true ? ok : x.ok === false ? bad : info
    const got = x.ok === null ? 'not checked' : `is ${JSON.stringify(x.actual)}`
    lines.push(line(mark, 'expect', `${x.field} = ${JSON.stringify(x.expected)}: ${got}`))
  }
  if (h.alive && typeof h.children === 'number') {
    const few = (h.problems ?? []).some((p) => /, fewer than the \d+ expected$/.test(p))
    lines.push(line(few ? bad : ok, 'children', String(h.children)))
  }
  for (const p of h.problems ?? []) lines.push(`  ${yellow('!')} ${p}`)
  return lines.join('\n') + '\n'
}

function jsonSafe(r) {
  if (!r.error) return r
  return { target: r.target ?? null, error: { code: r.error.code, message: r.error.message } }
}

function render({ all, free, results }, format, api) {
  if (format === 'json') return JSON.stringify(all ? results.map(jsonSafe) : jsonSafe(results[0]), null, 2) + '\n'
  if (format === 'prometheus') {
    const ok = results.filter((r) => !r.error)
    const text = require('../prometheus').toPrometheus(ok)
    const errs = results.filter((r) => r.error).map((r) => `# ${targetText(r.target)}: ${r.error.message.replace(/\n/g, ' ')}\n`)
    return text + errs.join('')
  }
  const freeNote = all && free.length ? dim(`${free.length} free guard${free.length === 1 ? '' : 's'} not checked (${free.join(', ')}); pid-guard prune removes their files`) + '\n' : ''
  if (all && !results.length) return (free.length ? 'no guard has anything running\n' : 'no guards\n') + freeNote
  return results.map(describe).join('') + freeNote
}

// --- commands ------------------------------------------------------------------------------

/**
 * Replaces `file` with `text` atomically: written to a hidden temp file beside it (the textfile
 * collector reads only *.prom), then renamed over it. Throws with the path on failure.
 */
function writeAtomic(file, text) {
  const fs = require('node:fs')
  const path = require('node:path')
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp${process.pid}`)
  try {
    fs.writeFileSync(tmp, text, { flag: 'wx', mode: 0o644 })
    fs.renameSync(tmp, file)
  } catch (err) {
    try { fs.unlinkSync(tmp) } catch {}
    throw new Error(`cannot write ${file}: ${err.message}`, { cause: err })
  }
}

/** Where a rendered sample goes: stdout, or the --prometheus-file. */
function emit(opts, text) {
  if (opts.promFile !== undefined) writeAtomic(opts.promFile, text)
  else writeOut(text)
}

async function once(api, opts) {
  const s = await sample(api, opts)
  const text = render(s, opts.format, api)
  try {
    emit(opts, text)
  } catch (err) {
    writeErr(`pid-guard health: ${err.message}\n`)
    return 1
  }
  const code = exitCode(s)
  // A not-running single target also says so on stderr for scripts that hide stdout.
  if (opts.format !== 'human' && code === 3 && !s.all && s.results[0].error) writeErr(`${s.results[0].error.message}\n`)
  return code
}

function watch(api, opts) {
  const tty = Boolean(process.stdout.isTTY)
  // Redraw in place on a terminal (cursor control, not colour, so NO_COLOR leaves it on): clear
  // once, then home the cursor, overwrite each line (erasing its old tail) and erase below, so
  // the screen does not flicker. Anything else gets every sample, separated by a blank line.
  const redraw = tty && process.env.TERM !== 'dumb'
  return new Promise((resolve, reject) => {
    let stopped = false
    let timer = null
    let first = true
    const stop = () => {
      if (stopped) return
      stopped = true
      clearTimeout(timer)
      process.removeListener('SIGINT', stop)
      process.removeListener('SIGTERM', stop)
      resolve(0)
      // A sample in flight (CPU window, endpoint timeout) must not hold Ctrl-C up for long.
      setTimeout(() => process.exit(process.exitCode ?? 0), 300).unref()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
    onStdoutClosed(stop) // `health --watch | head`: nobody reads any more
    const tick = async () => {
      const started = Date.now()
      let s
      try {
        s = await sample(api, opts)
      } catch (err) {
        stopped = true
        process.removeListener('SIGINT', stop)
        process.removeListener('SIGTERM', stop)
        reject(err)
        return
      }
      if (stopped) return
      const text = render(s, opts.format, api)
      const stamp = opts.format === 'human' ? dim(`${new Date().toISOString()}  every ${opts.watchMs} ms, Ctrl-C to stop`) + '\n' : ''
      if (opts.promFile !== undefined) {
        try {
          writeAtomic(opts.promFile, text)
        } catch (err) {
          writeErr(`pid-guard health: ${err.message}\n`) // said each time; the next sample tries again
        }
      } else if (redraw) writeOut(`${first ? '\x1b[2J' : ''}\x1b[H${(stamp + text).replace(/\n/g, '\x1b[K\n')}\x1b[J`)
      else writeOut((first ? '' : '\n') + stamp + text)
      first = false
      timer = setTimeout(tick, Math.max(0, opts.watchMs - (Date.now() - started)))
    }
    tick()
  })
}

async function run(argv) {
  const opts = parseOptions(argv)
  // lib/health + lib/guard rather than the whole package: start-up time is most of a CLI run.
  const api = { health: require('../health').health, list: require('../guard').list }
  return opts.watchMs !== null ? watch(api, opts) : once(api, opts)
}

module.exports = {
  summary: 'is it running, CPU, memory, port, endpoint (exit 0 healthy, 1 not, 3 not running)',
  usage,
  run,
  parseOptions,
  describe,
}
