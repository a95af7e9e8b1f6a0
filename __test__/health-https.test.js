'use strict'
// The https endpoint probe against a real TLS server on 127.0.0.1 whose certificate is made at
// test time with openssl (a CA and a leaf for 127.0.0.1). The server ignores `Connection: close`
// and keeps the connection open, as keep-alive servers do: a response complete at its
// Content-Length, or at its last chunk, must not wait for the close (the timeout). The checker
// runs in a child process so that NODE_EXTRA_CA_CERTS (which Node's client and the probe both
// trust) is in its environment from the start.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const tls = require('node:tls')
const { execFileSync } = require('node:child_process')
const h = require('./helpers')

const ROOT = path.join(__dirname, '..')

function haveOpenssl() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** A CA and a leaf certificate for 127.0.0.1 signed by it, in `dir`. */
function makeCerts(dir) {
  const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=pid-guard test CA', '-days', '1')
  ssl('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=127.0.0.1')
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n')
  ssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '1', '-extfile', 'ext.cnf')
  return { ca: path.join(dir, 'ca.pem'), key: fs.readFileSync(path.join(dir, 'leaf.key')), cert: fs.readFileSync(path.join(dir, 'leaf.pem')) }
}

/** A TLS server that answers each request with `answer(socket)` and never closes first. */
async function keepAliveServer(t, certs, answer) {
  const sockets = new Set()
  const server = tls.createServer({ key: certs.key, cert: certs.cert }, (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    let got = ''
    s.on('data', (d) => {
      got += d
      if (got.includes('\r\n\r\n')) {
        got = ''
        answer(s)
      }
    })
  })
  server.on('tlsClientError', () => {})
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  t.after(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  return `https://127.0.0.1:${server.address().port}/health`
}

/** health({ pid }) with `url` from a fresh node process: the parsed Health. */
async function checkFrom(t, url, env) {
  const code = `require(${JSON.stringify(ROOT)}).health({ pid: process.pid }, { url: ${JSON.stringify(url)}, sampleMs: 0, timeoutMs: 4000 }).then((h) => process.stdout.write(JSON.stringify(h)))`
  const r = await h.node(t, code, { env, timeout: 15000 })
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout)
}

const skip = haveOpenssl() ? false : 'openssl is not installed: no test certificate can be made'

test('https keep-alive: a Content-Length response is complete without waiting for the close', { skip }, async (t) => {
  const certs = makeCerts(h.tmpDir(t))
  const body = JSON.stringify({ status: 'ok' })
  const url = await keepAliveServer(t, certs, (s) => s.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`))
  const r = await checkFrom(t, url, { NODE_EXTRA_CA_CERTS: certs.ca })
  assert.equal(r.endpoint.error, null, JSON.stringify(r.endpoint))
  assert.equal(r.endpoint.status, 200)
  assert.deepEqual(r.endpoint.body, { status: 'ok' })
  assert.ok(r.endpoint.latencyMs < 2000, `latency ${r.endpoint.latencyMs} ms: waited for the close`)
  assert.deepEqual(r.problems, [])
})

test('https keep-alive: a chunked response is complete at its last chunk', { skip }, async (t) => {
  const certs = makeCerts(h.tmpDir(t))
  const url = await keepAliveServer(t, certs, (s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n')
    s.write('6\r\n{"ok":\r\n')
    setTimeout(() => s.write('5\r\ntrue}\r\n0\r\n\r\n'), 20)
  })
  const r = await checkFrom(t, url, { NODE_EXTRA_CA_CERTS: certs.ca })
  assert.equal(r.endpoint.error, null, JSON.stringify(r.endpoint))
  assert.deepEqual(r.endpoint.body, { ok: true })
  assert.ok(r.endpoint.latencyMs < 2000, `latency ${r.endpoint.latencyMs} ms: waited for the close`)
})

test('https with a certificate nobody trusts: a problem naming the certificate, not a timeout', { skip }, async (t) => {
  const certs = makeCerts(h.tmpDir(t))
  const url = await keepAliveServer(t, certs, (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}'))
  const r = await checkFrom(t, url, { NODE_EXTRA_CA_CERTS: '' })
  assert.equal(r.endpoint.ok, false)
  assert.equal(r.endpoint.status, null)
  assert.match(r.endpoint.error, /certificate/)
  assert.equal(r.healthy, false)
  assert.deepEqual(r.problems, [`GET ${url} failed: ${r.endpoint.error}`])
})

test('arguments are checked once, in the core: messages name what JS was given (RegExp, NaN, undefined)', async () => {
  const pg = require('..')
  const message = (fn) => {
    try {
      fn()
    } catch (e) {
      assert.ok(e instanceof pg.PidGuardError, String(e))
      assert.equal(e.code, 'EINVALIDOPTION')
      return e.message
    }
    assert.fail('no error')
  }
  assert.equal(message(() => pg.healthSync('x', { sampleMs: NaN })), 'pid-guard: options.sampleMs must be a whole number of milliseconds from 0 to 60000, not number NaN')
  assert.equal(message(() => pg.healthSync({ pid: 2 ** 31 })), 'pid-guard: target.pid must be a process id (a whole number >= 1), not number 2147483648')
  assert.equal(message(() => pg.healthSync('x', { expect: { a: undefined } })), 'pid-guard: options.expect .a must be a JSON value, not undefined')
  assert.equal(message(() => pg.healthSync({ pid: 1, port: undefined })), 'pid-guard: the health target must be a guard name, { pid } or { port } (exactly one key), not an object with "pid", "port"')
  assert.match(message(() => pg.healthSync({ pid: process.pid }, { children: /(?=sleep)/ })), /^pid-guard: options\.children \/\(\?=sleep\)\/: this check cannot run it \(look-around and backreferences are not supported\)/)
  await assert.rejects(pg.health('x', { children: /a\1/ }), (e) => e.code === 'EINVALIDOPTION' && e.message.includes('/a\\1/'))
  // undefined options are not given; a RegExp with flags still matches.
  assert.equal(pg.healthSync({ pid: process.pid }, { sampleMs: undefined, children: /NODE/i }).alive, true)
})
