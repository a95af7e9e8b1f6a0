//! Netlink `NETLINK_SOCK_DIAG` (inet_diag) requests and replies as plain bytes: built and
//! parsed here on every OS (tested everywhere), sent by [`super::linux::net`] on Linux.

use crate::health::ports::{Family, Listening, Socket};
use std::net::{Ipv4Addr, Ipv6Addr};

pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_DUMP: u16 = 0x300;
pub const TCP_LISTEN: u32 = 10;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;
pub const IPPROTO_TCP: u8 = 6;
/// struct inet_diag_msg: family, state, timer, retrans (4), sockid (48), expires, rqueue,
/// wqueue, uid, inode (20).
pub const INET_DIAG_MSG_LEN: usize = 72;

/// The legacy TCPDIAG_GETSOCK request (struct nlmsghdr + struct inet_diag_req): the kernel
/// dumps IPv4 and IPv6 LISTEN sockets in one pass (it sets the family to AF_UNSPEC), which
/// halves the cost of two per-family dumps.
pub const TCPDIAG_GETSOCK: u16 = 18;
pub fn request_both(seq: u32) -> [u8; 76] {
    let mut b = [0u8; 76];
    b[0..4].copy_from_slice(&76u32.to_ne_bytes());
    b[4..6].copy_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    b[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    b[16] = AF_INET;
    // src_len, dst_len, ext = 0; sockid (20..68) all zero; then states and dbs.
    b[68..72].copy_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    b
}

/// A dump request for the LISTEN TCP sockets of one address family:
/// struct nlmsghdr + struct inet_diag_req_v2 (all zero id: no address filter).
pub fn request(family: u8, seq: u32) -> [u8; 72] {
    let mut b = [0u8; 72];
    b[0..4].copy_from_slice(&72u32.to_ne_bytes());
    b[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    b[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    // pid (12..16) = 0: the kernel.
    b[16] = family;
    b[17] = IPPROTO_TCP;
    // idiag_ext, pad = 0
    b[20..24].copy_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    b
}

/// What one receive buffer held.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk {
    /// More messages may follow in the next receive.
    More,
    /// NLMSG_DONE seen.
    Done,
    /// NLMSG_ERROR with this errno (positive).
    Error(i32),
}

fn u16_ne(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}
fn u32_ne(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses the netlink messages in one receive buffer, appending listening sockets to `out`.
/// Messages of another sequence number are skipped; a malformed length ends the buffer.
pub fn parse(buf: &[u8], seq: u32, out: &mut Vec<Socket>) -> Chunk {
    let mut at = 0;
    while at + NLMSG_HDRLEN <= buf.len() {
        let len = u32_ne(buf, at) as usize;
        if len < NLMSG_HDRLEN || at + len > buf.len() {
            break;
        }
        let kind = u16_ne(buf, at + 4);
        let msg_seq = u32_ne(buf, at + 8);
        let body = &buf[at + NLMSG_HDRLEN..at + len];
        at += (len + 3) & !3;
        if msg_seq != seq {
            continue;
        }
        match kind {
            NLMSG_DONE => return Chunk::Done,
            NLMSG_ERROR => {
                let err = if body.len() >= 4 {
                    i32::from_ne_bytes([body[0], body[1], body[2], body[3]])
                } else {
                    -libc_eio()
                };
                // An ack (error 0) ends a request too.
                return if err == 0 {
                    Chunk::Done
                } else {
                    Chunk::Error(-err)
                };
            }
            // The legacy request's replies carry its own type.
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => {
                if let Some(s) = parse_msg(body) {
                    out.push(s);
                }
            }
            _ => {}
        }
    }
    Chunk::More
}

fn libc_eio() -> i32 {
    5
}

/// One struct inet_diag_msg. Ports are in network byte order; addresses are raw bytes.
pub fn parse_msg(m: &[u8]) -> Option<Socket> {
    if m.len() < INET_DIAG_MSG_LEN {
        return None;
    }
    let family = m[0];
    let state = m[1] as u32;
    if state != TCP_LISTEN {
        return None;
    }
    let port = u16::from_be_bytes([m[4], m[5]]);
    let src = &m[8..24];
    let (address, family) = match family {
        AF_INET => (
            Ipv4Addr::new(src[0], src[1], src[2], src[3]).to_string(),
            Family::Ipv4,
        ),
        AF_INET6 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(src);
            (Ipv6Addr::from(a).to_string(), Family::Ipv6)
        }
        _ => return None,
    };
    let uid = u32_ne(m, 64);
    let inode = u32_ne(m, 68) as u64;
    Some(Socket {
        listening: Listening {
            address,
            port,
            family,
        },
        inode,
        uid,
    })
}
