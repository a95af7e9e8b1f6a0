'use strict'
// toPrometheus(health | health[]): the Prometheus text exposition format (version 0.0.4).
// One gauge family per metric, # HELP and # TYPE once each. Samples are labelled by what was
// checked: a guard by `name`, a `{ port }` target by `port` (its series survives restarts), a
// `{ pid }` target by `pid`. Metrics whose value is null/unknown are left out, and no series is
// emitted twice (the same target given twice is rendered once).

const { invalidOption } = require('./errors')

/** Label values: backslash, double quote and line feed are escaped (the format's rule). */
function escapeLabel(v) {
  return String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** HELP text: backslash and line feed are escaped. */
function escapeHelp(v) {
  return String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

function formatValue(v) {
  if (typeof v === 'boolean') return v ? '1' : '0'
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

const num = (v) => (typeof v === 'number' || typeof v === 'boolean' ? v : null)

// [metric, help, (health) => value | null, (health) => extra labels]
const METRICS = [
  ['pid_guard_up', 'Whether the process is running (1) or not (0).', (h) => num(h.alive)],
  ['pid_guard_healthy', 'Whether every health check passed (1) or not (0).', (h) => num(h.healthy)],
  ['pid_guard_problems', 'Number of failed health checks.', (h) => (Array.isArray(h.problems) ? h.problems.length : null)],
  ['pid_guard_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.', (h) => (typeof h.startedAt === 'number' ? h.startedAt / 1000 : null)],
  ['pid_guard_uptime_seconds', 'Time since the process started, in seconds.', (h) => (typeof h.uptimeMs === 'number' ? h.uptimeMs / 1000 : null)],
  ['pid_guard_cpu_percent', 'CPU use over the sampling window, in percent of one core (like top).', (h) => num(h.cpuPercent)],
  ['pid_guard_memory_rss_bytes', 'Resident set size, in bytes.', (h) => num(h.memory?.rss)],
  ['pid_guard_memory_virtual_bytes', 'Virtual memory size, in bytes.', (h) => num(h.memory?.virtual)],
  ['pid_guard_threads', 'Number of threads of the process.', (h) => num(h.threads)],
  ['pid_guard_children', 'Number of descendant processes (after the children filter, if any).', (h) => num(h.children)],
  ['pid_guard_listening_sockets', 'Number of TCP sockets the process listens on.', (h) => (Array.isArray(h.listening) ? h.listening.length : null)],
  ['pid_guard_port_listening', 'Whether something listens on the expected port (1) or not (0).', (h) => num(h.port?.listening), (h) => ({ port: h.port?.number })],
  ['pid_guard_port_owned', 'Whether the expected port is held by the process itself or one of its descendants (1) or not (0).', (h) => num(h.port?.ownedByPid), (h) => ({ port: h.port?.number })],
  ['pid_guard_endpoint_up', 'Whether the health endpoint answered with a 2xx status (1) or not (0).', (h) => num(h.endpoint?.ok), (h) => ({ url: h.endpoint?.url })],
  ['pid_guard_endpoint_status_code', 'HTTP status code of the health endpoint.', (h) => num(h.endpoint?.status), (h) => ({ url: h.endpoint?.url })],
  ['pid_guard_endpoint_latency_seconds', 'Time until the health endpoint answered, in seconds.', (h) => (typeof h.endpoint?.latencyMs === 'number' ? h.endpoint.latencyMs / 1000 : null), (h) => ({ url: h.endpoint?.url })],
]

const isId = (v) => Number.isInteger(v) && v > 0

/** The labels naming the target: from `target` (health results carry it), else name, pid, port. */
function baseLabels(h) {
  const t = h.target
  if (typeof t === 'string' && t !== '') return { name: t }
  if (t !== null && typeof t === 'object') {
    if (isId(t.port)) return { port: t.port }
    if (isId(t.pid)) return { pid: t.pid }
  }
  if (typeof h.name === 'string' && h.name !== '') return { name: h.name }
  if (typeof h.pid === 'number') return { pid: h.pid }
  if (isId(h.port?.number)) return { port: h.port.number }
  return {}
}

/** Target labels plus a metric's own; an own label that would rename the target's is prefixed. */
function labelsOf(h, extra) {
  const labels = baseLabels(h)
  for (const [k, v] of Object.entries(extra ? extra(h) : {})) {
    if (v === undefined || v === null) continue
    if (k in labels && String(labels[k]) !== String(v)) labels[`expected_${k}`] = v
    else labels[k] = v
  }
  return labels
}

function labelText(labels) {
  const parts = Object.entries(labels)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
  return parts.length ? `{${parts.join(',')}}` : ''
}

/**
 * Renders one health result or an array of them as Prometheus text exposition format.
 * @param {object|object[]} input
 * @returns {string}
 */
function toPrometheus(input) {
  const list = Array.isArray(input) ? input : [input]
  list.forEach((h, i) => {
    if (h === null || typeof h !== 'object' || Array.isArray(h)) {
      const what = h === null ? 'null' : Array.isArray(h) ? 'an array' : typeof h
      throw invalidOption(`toPrometheus expects a health result (or an array of them) from health()/healthSync(), not ${what}${Array.isArray(input) ? ` at index ${i}` : ''}`)
    }
  })
  let out = ''
  for (const [metric, help, value, extra] of METRICS) {
    const samples = []
    const seen = new Set()
    for (const h of list) {
      const v = value(h)
      if (v === null || v === undefined) continue
      const labels = labelText(labelsOf(h, extra))
      if (seen.has(labels)) continue
      seen.add(labels)
      samples.push(`${metric}${labels} ${formatValue(v)}`)
    }
    if (!samples.length) continue
    out += `# HELP ${metric} ${escapeHelp(help)}\n# TYPE ${metric} gauge\n${samples.join('\n')}\n`
  }
  return out
}

module.exports = { toPrometheus, escapeLabel }
