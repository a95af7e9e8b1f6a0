//! https for the health endpoint probe (feature "tls"): rustls over ring (no OpenSSL), trusting
//! Mozilla's roots plus the PEM file `NODE_EXTRA_CA_CERTS` names, as Node's client does. The
//! request, the response and the deadline are endpoint.rs's; this is only the TLS stream.

use super::endpoint::{talk, Failure};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

/// The roots an https probe trusts besides Mozilla's.
pub(super) enum Roots {
    /// The process's: `NODE_EXTRA_CA_CERTS`, read once.
    Process,
    /// These (not `NODE_EXTRA_CA_CERTS`).
    Extra(Vec<CertificateDer<'static>>),
}

/// The certificates `NODE_EXTRA_CA_CERTS` names (what today's Node client also trusts).
fn extra_roots() -> Vec<CertificateDer<'static>> {
    let Some(path) = std::env::var_os("NODE_EXTRA_CA_CERTS") else {
        return Vec::new();
    };
    CertificateDer::pem_file_iter(path)
        .map(|it| it.filter_map(|c| c.ok()).collect())
        .unwrap_or_default()
}

/// The TLS client configuration: Mozilla's roots and `extra`.
fn tls_config(extra: Vec<CertificateDer<'static>>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for c in extra {
        let _ = roots.add(c);
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| text(&e))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The process's TLS configuration, made at the first https probe (reading
/// `NODE_EXTRA_CA_CERTS` once, as Node does at start-up).
fn default_tls() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>> =
        std::sync::OnceLock::new();
    CONFIG.get_or_init(|| tls_config(extra_roots())).clone()
}

/// The request over TLS on `tcp` (connected to `host`), its response read as over http.
pub(super) fn exchange(
    tcp: TcpStream,
    host: &str,
    roots: Roots,
    request: &str,
    deadline: Instant,
) -> Result<(u16, Vec<u8>), Failure> {
    let config = match roots {
        Roots::Process => default_tls(),
        Roots::Extra(extra) => tls_config(extra),
    }
    .map_err(Failure::Error)?;
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| Failure::Error(format!("{host} is not a valid TLS server name")))?;
    let conn = rustls::ClientConnection::new(config, name).map_err(|e| Failure::Error(text(&e)))?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    talk(
        &mut s,
        |s, d| {
            s.sock
                .set_read_timeout(Some(d))
                .and(s.sock.set_write_timeout(Some(d)))
        },
        request,
        deadline,
    )
}

/// The TLS failure inside an I/O error, said (an untrusted certificate names the way out).
pub(super) fn io_text(e: &std::io::Error) -> Option<String> {
    e.get_ref()
        .and_then(|i| i.downcast_ref::<rustls::Error>())
        .map(text)
}

fn text(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => format!(
            "the server's TLS certificate is not trusted ({c:?}); use a certificate from a public authority, or name its CA in NODE_EXTRA_CA_CERTS"
        ),
        other => format!("TLS: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    /// A CA and a leaf for 127.0.0.1 signed by it, made with openssl; `None` without openssl.
    fn certs(dir: &std::path::Path) -> Option<()> {
        let run = |args: &[&str]| {
            std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .stderr(std::process::Stdio::null())
                .status()
                .ok()
                .filter(|s| s.success())
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=pid-guard test CA",
            "-days",
            "1",
        ])?;
        run(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ])?;
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n",
        )
        .ok()?;
        run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ])?;
        Some(())
    }

    #[test]
    fn https_keep_alive_and_an_untrusted_certificate() {
        let dir = std::env::temp_dir().join(format!("pg-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        if certs(&dir).is_none() {
            eprintln!("skipped: openssl cannot make a test certificate here");
            return;
        }
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(dir.join("leaf.pem"))
                .unwrap()
                .map(|c| c.unwrap())
                .collect();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(dir.join("leaf.key")).unwrap();
        let ca: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("ca.pem"))
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let server = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
        );
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://127.0.0.1:{}/", l.local_addr().unwrap().port());
        let h = std::thread::spawn(move || {
            for _ in 0..2 {
                let (tcp, _) = l.accept().unwrap();
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let conn = rustls::ServerConnection::new(server.clone()).unwrap();
                let mut s = rustls::StreamOwned::new(conn, tcp);
                let mut got = Vec::new();
                let mut b = [0u8; 1024];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b) {
                        Ok(n) if n > 0 => got.extend_from_slice(&b[..n]),
                        _ => break,
                    }
                }
                if got.is_empty() {
                    continue; // the untrusting client hung up in the handshake
                }
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\n{\"ok\":true}");
                let _ = s.flush();
                while matches!(s.read(&mut b), Ok(n) if n > 0) {}
            }
        });
        let untrusted =
            super::super::endpoint::probe_with(&url, Duration::from_secs(5), Vec::new());
        let err = untrusted.error.clone().unwrap_or_default();
        assert!(err.contains("certificate is not trusted"), "{untrusted:?}");
        assert_eq!(untrusted.problem, Some(format!("GET {url} failed: {err}")));

        let t = Instant::now();
        let ep = super::super::endpoint::probe_with(&url, Duration::from_secs(5), ca);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(ep.status, Some(200), "{ep:?}");
        assert_eq!(ep.body, serde_json::json!({"ok": true}));
        h.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
