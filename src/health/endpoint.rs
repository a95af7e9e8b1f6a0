//! The health endpoint probe: one GET over http or https (the TLS is in `tls.rs`, feature
//! "tls"), no redirects (a 3xx is its status), a body of at most 1 MiB, and one deadline over the
//! whole exchange (resolve, connect, TLS, response). The response is complete at its
//! `Content-Length`, at the last chunk of a chunked body, or when the server closes: a keep-alive
//! server is not waited on until the deadline.

use serde::Serialize;
use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[cfg(feature = "tls")]
use super::tls::Roots;

/// The roots an https probe trusts: without TLS there is nothing to choose.
#[cfg(not(feature = "tls"))]
enum Roots {
    Process,
}

pub const MAX_BODY: usize = 1024 * 1024;

/// What an https URL gets from a build without the "tls" feature, before any connection.
pub const NO_TLS: &str =
    "https is not supported by this build of pid-guard (built without the \"tls\" feature)";

/// The result of the GET of the health URL.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub url: String,
    /// A 2xx status arrived within the timeout.
    pub ok: bool,
    pub status: Option<u16>,
    /// Time until the whole response arrived, ms (2 decimals).
    pub latency_ms: Option<f64>,
    /// Parsed when JSON, else the text; `null` when empty or none.
    pub body: Value,
    /// Why there is no usable response.
    pub error: Option<String>,
    /// The sentence for `problems` (a failure or a non-2xx status).
    #[serde(skip)]
    pub problem: Option<String>,
}

/// GETs `url` (http: or https:, already validated) within `timeout`. Never fails: what goes wrong
/// is `error` and `problem`.
pub fn probe(url: &str, timeout: Duration) -> Endpoint {
    run(url, timeout, Roots::Process)
}

/// [`probe`] trusting `extra` besides Mozilla's roots (not `NODE_EXTRA_CA_CERTS`).
#[cfg(feature = "tls")]
pub fn probe_with(
    url: &str,
    timeout: Duration,
    extra: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Endpoint {
    run(url, timeout, Roots::Extra(extra))
}

fn run(url: &str, timeout: Duration, roots: Roots) -> Endpoint {
    let start = Instant::now();
    let deadline = start + timeout;
    let ms = timeout.as_millis();
    let mut ep = Endpoint {
        url: url.to_string(),
        ok: false,
        status: None,
        latency_ms: None,
        body: Value::Null,
        error: None,
        problem: None,
    };
    let fail = |mut ep: Endpoint, error: String, problem: String| {
        ep.error = Some(error);
        ep.problem = Some(problem);
        ep
    };
    // Every step is bounded by what is left of the deadline (name resolution on a thread of
    // its own, see `resolve`), so the exchange runs here.
    let result = exchange(url, deadline, roots);
    // A last read that returned just past the deadline is still a timeout.
    let result = match result {
        Ok(_) if Instant::now() > deadline => Err(Failure::Timeout),
        r => r,
    };
    match result {
        Ok((status, body)) => {
            let elapsed = start.elapsed().as_nanos() as f64;
            ep.status = Some(status);
            ep.ok = (200..300).contains(&status);
            ep.latency_ms = Some((elapsed / 1e4).round() / 100.0);
            ep.body = parse_body(&body);
            if !ep.ok {
                ep.problem = Some(format!("GET {url} returned {status}"));
            }
            ep
        }
        Err(Failure::Timeout) => fail(
            ep,
            format!("timed out after {ms} ms"),
            format!("GET {url} timed out after {ms} ms"),
        ),
        Err(Failure::Error(e)) => {
            let problem = format!("GET {url} failed: {e}");
            fail(ep, e, problem)
        }
    }
}

pub(super) enum Failure {
    Timeout,
    Error(String),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        match e.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => Failure::Timeout,
            _ => Failure::Error(io_text(&e)),
        }
    }
}

/// "connection refused (ECONNREFUSED)", as the Node client said it; a TLS failure says which.
fn io_text(e: &std::io::Error) -> String {
    #[cfg(feature = "tls")]
    if let Some(tls) = super::tls::io_text(e) {
        return tls;
    }
    let named = match e.kind() {
        ErrorKind::ConnectionRefused => Some("connection refused (ECONNREFUSED)"),
        ErrorKind::ConnectionReset => Some("connection reset (ECONNRESET)"),
        ErrorKind::HostUnreachable => Some("host unreachable (EHOSTUNREACH)"),
        ErrorKind::NetworkUnreachable => Some("network unreachable (ENETUNREACH)"),
        ErrorKind::BrokenPipe => Some("connection closed (EPIPE)"),
        _ => None,
    };
    named.map(str::to_string).unwrap_or_else(|| e.to_string())
}

/// Host and port to connect to, and the Host header.
fn authority(u: &url::Url) -> Result<(String, u16, String), Failure> {
    let host = u
        .host_str()
        .ok_or_else(|| Failure::Error("the URL has no host".into()))?;
    let port = u
        .port_or_known_default()
        .ok_or_else(|| Failure::Error("the URL has no port".into()))?;
    let header = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
        header,
    ))
}

fn left(deadline: Instant) -> Result<Duration, Failure> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        Err(Failure::Timeout)
    } else {
        Ok(d)
    }
}

fn exchange(url: &str, deadline: Instant, roots: Roots) -> Result<(u16, Vec<u8>), Failure> {
    let u = url::Url::parse(url).map_err(|e| Failure::Error(e.to_string()))?;
    // Said before resolving or connecting: neither could tell the user anything truer.
    if u.scheme() == "https" && !cfg!(feature = "tls") {
        return Err(Failure::Error(NO_TLS.into()));
    }
    let (host, port, host_header) = authority(&u)?;
    let addrs = resolve(&host, port, deadline)?;
    let mut last = None;
    let mut tcp = None;
    for a in &addrs {
        match TcpStream::connect_timeout(a, left(deadline)?) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = match tcp {
        Some(s) => s,
        None => return Err(last.map(Failure::from).unwrap_or(Failure::Timeout)),
    };
    let _ = tcp.set_nodelay(true);
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nAccept: application/json, */*;q=0.5\r\nConnection: close\r\nUser-Agent: pid-guard\r\n\r\n"
    );
    #[cfg(feature = "tls")]
    if u.scheme() == "https" {
        return super::tls::exchange(tcp, &host, roots, &request, deadline);
    }
    #[cfg(not(feature = "tls"))]
    let Roots::Process = roots;
    let mut s = tcp;
    talk(
        &mut s,
        |s, d| {
            s.set_read_timeout(Some(d))
                .and(s.set_write_timeout(Some(d)))
        },
        &request,
        deadline,
    )
}

/// The addresses of `host`: an IP literal at once, a name through the system's resolver on a
/// thread of its own, so that a resolver that hangs cannot outlive the deadline.
fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<std::net::SocketAddr>, Failure> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![std::net::SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = mpsc::channel();
    let name = host.to_string();
    std::thread::Builder::new()
        .name("pid-guard-resolve".into())
        .spawn(move || {
            let _ = tx.send(
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(|a| a.collect::<Vec<_>>()),
            );
        })
        .map_err(|e| Failure::Error(format!("cannot start a thread: {e}")))?;
    match rx.recv_timeout(left(deadline)?) {
        Ok(Ok(a)) if !a.is_empty() => Ok(a),
        Ok(_) => Err(Failure::Error("host not found (ENOTFOUND)".into())),
        Err(_) => Err(Failure::Timeout),
    }
}

/// Sends the request and reads until the response is complete, the peer closes, or the deadline.
pub(super) fn talk<S: Read + Write>(
    s: &mut S,
    set_timeout: impl Fn(&mut S, Duration) -> std::io::Result<()>,
    request: &str,
    deadline: Instant,
) -> Result<(u16, Vec<u8>), Failure> {
    set_timeout(s, left(deadline)?)?;
    s.write_all(request.as_bytes())?;
    s.flush()?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(done) = complete(&raw, false)? {
            return Ok(done);
        }
        set_timeout(s, left(deadline)?)?;
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            // A TLS peer that closes without close_notify: the end all the same.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => 0,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return complete(&raw, true)?
                .ok_or_else(|| Failure::Error("not an HTTP response".into()));
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > MAX_BODY + 64 * 1024 {
            return Err(too_large());
        }
    }
}

fn too_large() -> Failure {
    Failure::Error(format!("the response body is larger than {MAX_BODY} bytes"))
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The status and body when `raw` holds a whole response (`at_end`: the peer closed, so what
/// there is is the response).
fn complete(raw: &[u8], at_end: bool) -> Result<Option<(u16, Vec<u8>)>, Failure> {
    let Some(head_end) = find(raw, b"\r\n\r\n", 0) else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let status = head
        .strip_prefix("HTTP/")
        .and_then(|r| r.get(4..7).filter(|_| r.as_bytes().get(1) == Some(&b'.')))
        .and_then(|c| c.parse::<u16>().ok());
    let Some(status) = status else {
        return Err(Failure::Error("not an HTTP response".into()));
    };
    let body = &raw[head_end + 4..];
    // An interim 1xx answer: the real one follows it.
    if (100..200).contains(&status) {
        return complete(body, at_end);
    }
    let mut chunked = false;
    let mut length = None;
    for line in head.split("\r\n").skip(1) {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("transfer-encoding")
            && v.trim().to_ascii_lowercase().ends_with("chunked")
        {
            chunked = true;
        } else if k.trim().eq_ignore_ascii_case("content-length") {
            length = v.trim().parse::<usize>().ok();
        }
    }
    let body = if status == 204 || status == 304 {
        Vec::new()
    } else if chunked {
        match dechunk(body) {
            Some(b) => b,
            None if at_end => dechunk_partial(body),
            None => return Ok(None),
        }
    } else if let Some(n) = length {
        if body.len() < n && !at_end {
            return Ok(None);
        }
        body[..n.min(body.len())].to_vec()
    } else if at_end {
        body.to_vec()
    } else {
        return Ok(None);
    };
    if body.len() > MAX_BODY {
        return Err(too_large());
    }
    Ok(Some((status, body)))
}

/// A whole chunked body, decoded; `None` until its last chunk has arrived.
fn dechunk(buf: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let eol = find(buf, b"\r\n", i)?;
        let size = String::from_utf8_lossy(&buf[i..eol]);
        let size = size.split(';').next().unwrap_or("").trim();
        let Ok(n) = usize::from_str_radix(size, 16) else {
            // Malformed: stop waiting, keep what was readable.
            return Some(out);
        };
        if n == 0 {
            return Some(out);
        }
        let end = eol + 2 + n;
        if buf.len() < end + 2 {
            return None;
        }
        out.extend_from_slice(&buf[eol + 2..end]);
        if out.len() > MAX_BODY {
            return Some(out);
        }
        i = end + 2;
    }
}

/// What arrived of a chunked body cut short by the peer closing.
fn dechunk_partial(buf: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(eol) = find(buf, b"\r\n", i) {
        let size = String::from_utf8_lossy(&buf[i..eol]);
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else {
            break;
        };
        if n == 0 {
            break;
        }
        let end = (eol + 2 + n).min(buf.len());
        out.extend_from_slice(&buf[eol + 2..end]);
        i = end + 2;
    }
    out
}

fn parse_body(body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;

    /// A server on 127.0.0.1 that reads one request and runs `answer` on the connection, then
    /// keeps it open (keep-alive) until the client goes.
    fn serve(
        answer: impl Fn(&mut TcpStream) + Send + 'static,
    ) -> (String, std::thread::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://127.0.0.1:{}/health?x=1",
            l.local_addr().unwrap().port()
        );
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut r = std::io::BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            answer(&mut s);
            // Keep-alive: hold the connection until the client closes it.
            let mut sink = [0u8; 64];
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
        });
        (url, h)
    }

    #[test]
    fn keep_alive_content_length_is_complete_without_waiting_for_close() {
        let (url, h) = serve(|s| {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\n{\"stuck\":0}").unwrap();
        });
        let t = Instant::now();
        let ep = probe(&url, Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(ep.status, Some(200), "{ep:?}");
        assert!(ep.ok);
        assert!(ep.problem.is_none());
        assert_eq!(ep.body, serde_json::json!({"stuck": 0}));
        h.join().unwrap();
    }

    #[test]
    fn a_host_name_is_resolved_and_each_address_tried() {
        let (url, h) = serve(|s| {
            s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        });
        let url = url.replace("127.0.0.1", "localhost");
        let ep = probe(&url, Duration::from_secs(5));
        assert_eq!(ep.status, Some(204), "{ep:?}");
        assert_eq!(ep.body, Value::Null);
        h.join().unwrap();
    }

    #[test]
    fn keep_alive_chunked_is_complete_at_the_last_chunk() {
        let (url, h) = serve(|s| {
            s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap();
            s.write_all(b"7\r\n{\"ok\":1\r\n").unwrap();
            s.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            s.write_all(b"1\r\n}\r\n0\r\n\r\n").unwrap();
        });
        let t = Instant::now();
        let ep = probe(&url, Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(ep.body, serde_json::json!({"ok": 1}), "{ep:?}");
        h.join().unwrap();
    }

    #[test]
    fn a_trickling_server_times_out_at_the_deadline() {
        let (url, h) = serve(|s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
            for _ in 0..30 {
                if s.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let t = Instant::now();
        let ep = probe(&url, Duration::from_millis(300));
        let took = t.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_millis(1500),
            "{took:?}"
        );
        assert_eq!(ep.error.as_deref(), Some("timed out after 300 ms"));
        assert_eq!(
            ep.problem,
            Some(format!("GET {url} timed out after 300 ms"))
        );
        assert_eq!(ep.status, None);
        h.join().unwrap();
    }

    #[test]
    fn a_body_over_one_mib_is_refused() {
        let (url, h) = serve(|s| {
            let n = 2 * 1024 * 1024;
            let _ =
                s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").as_bytes());
            let _ = s.write_all(&vec![b'a'; n]);
        });
        let ep = probe(&url, Duration::from_secs(5));
        assert_eq!(
            ep.error.as_deref(),
            Some("the response body is larger than 1048576 bytes"),
            "{:?}",
            ep.error
        );
        h.join().unwrap();
    }

    #[test]
    fn a_redirect_is_its_status_and_refused_is_named() {
        let (url, h) = serve(|s| {
            s.write_all(
                b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/\r\nContent-Length: 0\r\n\r\n",
            )
            .unwrap();
        });
        let ep = probe(&url, Duration::from_secs(5));
        assert_eq!(ep.status, Some(302));
        assert!(!ep.ok);
        assert_eq!(ep.problem, Some(format!("GET {url} returned 302")));
        h.join().unwrap();

        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let ep = probe(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(5));
        assert_eq!(
            ep.error.as_deref(),
            Some("connection refused (ECONNREFUSED)")
        );
    }

    /// A build without the "tls" feature cannot speak https: the probe says so (a problem, never
    /// a success and never a TLS or connection error that would send the user looking elsewhere).
    #[cfg(not(feature = "tls"))]
    #[test]
    fn https_without_the_tls_feature_is_a_problem_naming_the_feature() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let url = format!(
            "https://127.0.0.1:{}/health",
            l.local_addr().unwrap().port()
        );
        let ep = probe(&url, Duration::from_secs(5));
        let text =
            "https is not supported by this build of pid-guard (built without the \"tls\" feature)";
        assert_eq!(ep.error.as_deref(), Some(text), "{ep:?}");
        assert_eq!(ep.problem, Some(format!("GET {url} failed: {text}")));
        assert!(!ep.ok);
        assert_eq!(ep.status, None);
        // Said before connecting: the server saw no one.
        let e = l.accept().map(|_| ()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
    }

    proptest::proptest! {
        /// However a body is cut into chunks and however the bytes arrive, the response is
        /// complete exactly when its last (zero-size) chunk is in, with the body sent.
        #[test]
        fn chunked_is_complete_exactly_at_the_end(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            cuts in proptest::collection::vec(1usize..40, 1..12),
        ) {
            let mut wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            let mut rest = &body[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = cuts[i % cuts.len()].min(rest.len());
                wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                wire.extend_from_slice(&rest[..n]);
                wire.extend_from_slice(b"\r\n");
                rest = &rest[n..];
                i += 1;
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            for end in 0..wire.len() - 2 {
                let got = complete(&wire[..end], false).ok().flatten();
                proptest::prop_assert!(got.is_none(), "complete at {} of {}", end, wire.len());
            }
            let got = complete(&wire, false).ok().flatten();
            proptest::prop_assert_eq!(got, Some((200, body.clone())));
        }
    }
}
