//! What macOS's kernel hands back, as plain data: the C layouts of `sys/proc_info.h` that the
//! `libc` crate does not declare, and parsers for the buffers of `proc_pidfdinfo`,
//! `sysctl(KERN_PROCARGS2)` and `statfs`. Nothing here calls the OS, so it is compiled and
//! unit-tested on every system; `sys::macos` does the calls.

use crate::health::ports::{Family, Listening};
use std::net::{Ipv4Addr, Ipv6Addr};

/// `proc_pidfdinfo` flavor for a socket descriptor (sys/proc_info.h).
pub const PROC_PIDFDSOCKETINFO: i32 = 3;
/// `proc_pidinfo` flavor for `struct proc_bsdshortinfo`: readable for any user's process.
pub const PROC_PIDT_SHORTBSDINFO: i32 = 13;
/// `proc_listpids` type: every process.
pub const PROC_ALL_PIDS: u32 = 1;
/// `soi_kind` of a TCP socket (enum in sys/proc_info.h: GENERIC 0, IN 1, TCP 2, UN 3, ...).
pub const SOCKINFO_TCP: i32 = 2;
/// `tcpsi_state` of a listening socket (TSI_S_CLOSED 0, TSI_S_LISTEN 1, ...).
pub const TSI_S_LISTEN: i32 = 1;
/// `insi_vflag` bits.
pub const INI_IPV4: u8 = 0x1;
pub const INI_IPV6: u8 = 0x2;
/// `p_stat` of a process that has exited and waits to be reaped (sys/proc.h).
pub const SZOMB: u32 = 5;

/// `struct proc_fileinfo` (24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ProcFileInfo {
    pub fi_openflags: u32,
    pub fi_status: u32,
    pub fi_offset: i64,
    pub fi_type: i32,
    pub fi_guardflags: u32,
}

/// `struct vinfo_stat` (136 bytes): a copy of stat64 with fixed-size fields.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct VinfoStat {
    pub vst_dev: u32,
    pub vst_mode: u16,
    pub vst_nlink: u16,
    pub vst_ino: u64,
    pub vst_uid: u32,
    pub vst_gid: u32,
    /// atime, atimensec, mtime, mtimensec, ctime, ctimensec, birthtime, birthtimensec.
    pub vst_times: [i64; 8],
    pub vst_size: i64,
    pub vst_blocks: i64,
    pub vst_blksize: i32,
    pub vst_flags: u32,
    pub vst_gen: u32,
    pub vst_rdev: u32,
    pub vst_qspare: [i64; 2],
}

/// `struct sockbuf_info` (24 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct SockbufInfo {
    pub sbi_cc: u32,
    pub sbi_hiwat: u32,
    pub sbi_mbcnt: u32,
    pub sbi_mbmax: u32,
    pub sbi_lowat: u32,
    pub sbi_flags: i16,
    pub sbi_timeo: i16,
}

/// `struct in_sockinfo` (80 bytes). The two address unions (`struct in4in6_addr` /
/// `struct in6_addr`, 16 bytes each, 4-aligned) are raw bytes here; they sit at 4-aligned
/// offsets either way. An IPv4 address is the last 4 bytes (`i46a_addr4`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct InSockInfo {
    /// Foreign port: a `u_short` in network byte order, widened to int.
    pub insi_fport: i32,
    /// Local port, likewise.
    pub insi_lport: i32,
    pub insi_gencnt: u64,
    pub insi_flags: u32,
    pub insi_flow: u32,
    pub insi_vflag: u8,
    pub insi_ip_ttl: u8,
    pub rfu_1: u32,
    pub insi_faddr: [u8; 16],
    pub insi_laddr: [u8; 16],
    /// `insi_v4.in4_tos`.
    pub insi_v4_tos: u8,
    pub insi_v6: InSockV6,
}

/// `insi_v6` of `struct in_sockinfo` (12 bytes, 4-aligned: it starts at 68, not 65).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct InSockV6 {
    pub in6_hlim: u8,
    pub in6_cksum: i32,
    pub in6_ifindex: u16,
    pub in6_hops: i16,
}

/// `struct tcp_sockinfo` (120 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct TcpSockInfo {
    pub tcpsi_ini: InSockInfo,
    pub tcpsi_state: i32,
    /// TSI_T_NTIMERS = 4.
    pub tcpsi_timer: [i32; 4],
    pub tcpsi_mss: i32,
    pub tcpsi_flags: u32,
    pub rfu_1: u32,
    pub tcpsi_tp: u64,
}

/// Size of `soi_proto`, the union of the per-kind infos; `struct un_sockinfo` (two u64 and two
/// 255-byte address unions, rounded up to 8) is the largest at 528 bytes.
pub const SOI_PROTO_LEN: usize = 528;

/// `struct socket_info` (768 bytes). Only the TCP member of `soi_proto` is spelled out; the
/// rest of the union is padding.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SocketInfo {
    pub soi_stat: VinfoStat,
    pub soi_so: u64,
    pub soi_pcb: u64,
    pub soi_type: i32,
    pub soi_protocol: i32,
    pub soi_family: i32,
    pub soi_options: i16,
    pub soi_linger: i16,
    pub soi_state: i16,
    pub soi_qlen: i16,
    pub soi_incqlen: i16,
    pub soi_qlimit: i16,
    pub soi_timeo: i16,
    pub soi_error: u16,
    pub soi_oobmark: u32,
    pub soi_rcv: SockbufInfo,
    pub soi_snd: SockbufInfo,
    pub soi_kind: i32,
    pub rfu_1: u32,
    pub pri_tcp: TcpSockInfo,
    pub soi_proto_rest: [u8; SOI_PROTO_LEN - std::mem::size_of::<TcpSockInfo>()],
}

/// `struct socket_fdinfo` (792 bytes): what `proc_pidfdinfo(PROC_PIDFDSOCKETINFO)` fills.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SocketFdInfo {
    pub pfi: ProcFileInfo,
    pub psi: SocketInfo,
}

impl Default for SocketFdInfo {
    fn default() -> Self {
        SocketFdInfo {
            pfi: ProcFileInfo::default(),
            psi: SocketInfo {
                soi_stat: VinfoStat::default(),
                soi_so: 0,
                soi_pcb: 0,
                soi_type: 0,
                soi_protocol: 0,
                soi_family: 0,
                soi_options: 0,
                soi_linger: 0,
                soi_state: 0,
                soi_qlen: 0,
                soi_incqlen: 0,
                soi_qlimit: 0,
                soi_timeo: 0,
                soi_error: 0,
                soi_oobmark: 0,
                soi_rcv: SockbufInfo::default(),
                soi_snd: SockbufInfo::default(),
                soi_kind: 0,
                rfu_1: 0,
                pri_tcp: TcpSockInfo::default(),
                soi_proto_rest: [0; SOI_PROTO_LEN - std::mem::size_of::<TcpSockInfo>()],
            },
        }
    }
}

// The sizes Apple's headers give on 64-bit macOS (x86_64 and arm64 lay these out alike).
const _: () = assert!(std::mem::size_of::<ProcFileInfo>() == 24);
const _: () = assert!(std::mem::size_of::<VinfoStat>() == 136);
const _: () = assert!(std::mem::size_of::<InSockInfo>() == 80);
const _: () = assert!(std::mem::size_of::<TcpSockInfo>() == 120);
const _: () = assert!(std::mem::size_of::<SocketFdInfo>() == 792);

/// `struct proc_bsdshortinfo` (64 bytes): pid, ppid, status and uids of any process, without
/// the same-user check that `PROC_PIDTBSDINFO` has.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ProcBsdShortInfo {
    pub pbsi_pid: u32,
    pub pbsi_ppid: u32,
    pub pbsi_pgid: u32,
    pub pbsi_status: u32,
    pub pbsi_comm: [u8; 16],
    pub pbsi_flags: u32,
    pub pbsi_uid: u32,
    pub pbsi_gid: u32,
    pub pbsi_ruid: u32,
    pub pbsi_rgid: u32,
    pub pbsi_svuid: u32,
    pub pbsi_svgid: u32,
    pub pbsi_rfu: u32,
}

const _: () = assert!(std::mem::size_of::<ProcBsdShortInfo>() == 64);

/// The listening TCP socket a `socket_fdinfo` describes, or `None` for any other socket (not
/// TCP, not in LISTEN, not IPv4/IPv6).
pub fn listening_of(info: &SocketFdInfo) -> Option<Listening> {
    if info.psi.soi_kind != SOCKINFO_TCP {
        return None;
    }
    let tcp = &info.psi.pri_tcp;
    if tcp.tcpsi_state != TSI_S_LISTEN {
        return None;
    }
    let ini = &tcp.tcpsi_ini;
    let port = port_of(ini.insi_lport);
    let a = ini.insi_laddr;
    // A dual-stack socket has both flags; it is an IPv6 socket (bound to ::).
    if ini.insi_vflag & INI_IPV6 != 0 {
        return Some(Listening {
            address: Ipv6Addr::from(a).to_string(),
            port,
            family: Family::Ipv6,
        });
    }
    if ini.insi_vflag & INI_IPV4 != 0 {
        return Some(Listening {
            address: Ipv4Addr::new(a[12], a[13], a[14], a[15]).to_string(),
            port,
            family: Family::Ipv4,
        });
    }
    None
}

/// `insi_lport` holds the `u_short` port in network byte order, widened to an int (lsof reads
/// it as `ntohs((u_short)insi_lport)`).
pub fn port_of(raw: i32) -> u16 {
    u16::from_be(raw as u32 as u16)
}

/// The inverse of [`port_of`], for tests and crafted buffers.
pub fn raw_port(port: u16) -> i32 {
    i32::from(port.to_be())
}

/// The executable path and argv in a `sysctl({CTL_KERN, KERN_PROCARGS2, pid})` buffer:
/// `int argc`, the exec path and its NUL, NUL padding, then `argc` NUL-terminated strings
/// (the environment follows: [`parse_procargs2_env`]). `None` when the buffer does not hold all
/// of that (truncated, negative argc, no terminator): a half-read command line is not a command
/// line. An empty `argv[0]` cannot be told from the padding and is lost, as in `ps`.
pub fn parse_procargs2(buf: &[u8]) -> Option<(String, Vec<String>)> {
    procargs2_parts(buf).map(|(exe, argv, _)| (exe, argv))
}

/// The exe, argv and the offset (in `buf`) where the environment starts.
fn procargs2_parts(buf: &[u8]) -> Option<(String, Vec<String>, usize)> {
    let head: [u8; 4] = buf.get(..4)?.try_into().ok()?;
    let argc = i32::from_ne_bytes(head);
    let argc = usize::try_from(argc).ok()?;
    let rest = &buf[4..];
    let end = rest.iter().position(|&b| b == 0)?;
    let exe = String::from_utf8_lossy(&rest[..end]).into_owned();
    let mut at = end;
    while rest.get(at) == Some(&0) {
        at += 1;
    }
    let mut argv = Vec::new();
    for _ in 0..argc {
        let tail = rest.get(at..)?;
        let len = tail.iter().position(|&b| b == 0)?;
        argv.push(String::from_utf8_lossy(&tail[..len]).into_owned());
        at += len + 1;
    }
    Some((exe, argv, 4 + at))
}

/// The environment a process was started with, from a `KERN_PROCARGS2` buffer: the
/// NUL-terminated `K=V` strings after argv, up to the first empty string (the `apple[]`
/// strings the kernel appends after it, `executable_path=...`, are not the environment). The
/// result has the layout of Linux's `/proc/PID/environ` (each string NUL-terminated), so one
/// search serves both. `None` when the argv part is not whole.
pub fn parse_procargs2_env(buf: &[u8]) -> Option<Vec<u8>> {
    let (_, _, mut at) = procargs2_parts(buf)?;
    let mut env = Vec::new();
    while let Some(tail) = buf.get(at..).filter(|t| !t.is_empty()) {
        let len = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        if len == 0 {
            break;
        }
        // A string cut by the end of the buffer is not kept: it may be a truncated marker.
        if len == tail.len() {
            break;
        }
        env.extend_from_slice(&tail[..=len]);
        at += len + 1;
    }
    Some(env)
}

/// The kind of network filesystem a `statfs` `f_fstypename` names, where flock is emulated or
/// missing and PIDs mean nothing across hosts; `None` for a local one ("apfs", "hfs", ...).
pub fn remote_fs_kind(fstypename: &str) -> Option<&'static str> {
    match fstypename {
        "nfs" => Some("NFS"),
        "smbfs" => Some("SMB"),
        "afpfs" => Some("AFP"),
        "webdav" => Some("WebDAV"),
        _ => None,
    }
}

/// The NUL-terminated name in a fixed `c_char` array (`f_fstypename`), lossy.
pub fn c_name(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// The start-id token for a start time in seconds and microseconds (`pbi_start_tvsec`,
/// `pbi_start_tvusec`): exact, so two processes under one pid never share it.
pub fn start_token(sec: u64, usec: u64) -> String {
    format!(
        "mac-usecs:{}",
        sec.saturating_mul(1_000_000).saturating_add(usec)
    )
}

/// Milliseconds since the epoch of that start time, for people.
pub fn start_ms(sec: u64, usec: u64) -> u64 {
    sec.saturating_mul(1000).saturating_add(usec / 1000)
}

/// The pids in a `proc_listpids` buffer of `n` bytes (0 entries and slack are dropped).
pub fn pids_in(buf: &[i32], bytes: usize) -> Vec<u32> {
    let n = (bytes / std::mem::size_of::<i32>()).min(buf.len());
    buf[..n]
        .iter()
        .filter_map(|&p| u32::try_from(p).ok())
        .filter(|&p| p > 0)
        .collect()
}

/// `sizeof(struct kinfo_proc)` on LP64 macOS: what `sysctl({CTL_KERN, KERN_PROC,
/// KERN_PROC_PID, pid})` returns for a process (0 bytes when there is none).
pub const KINFO_PROC_LEN: usize = 648;

/// What `kinfo_proc` tells of any process, whoever owns it: `kp_proc` (`struct extern_proc`)
/// opens with the `p_starttime` timeval (tv_sec i64 at 0, tv_usec i32 at 8; the same `p_start`
/// `PROC_PIDTBSDINFO` reports), then p_vmspace, p_sigacts (8 each), p_flag (int, at 32),
/// p_stat (char, at 36) and p_pid (at 40).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KinfoStart {
    pub pid: u32,
    pub stat: u8,
    pub sec: u64,
    pub usec: u64,
}

pub fn parse_kinfo_proc(buf: &[u8]) -> Option<KinfoStart> {
    if buf.len() < KINFO_PROC_LEN {
        return None;
    }
    let sec = i64::from_ne_bytes(buf[0..8].try_into().ok()?);
    let usec = i32::from_ne_bytes(buf[8..12].try_into().ok()?);
    let pid = i32::from_ne_bytes(buf[40..44].try_into().ok()?);
    Some(KinfoStart {
        pid: u32::try_from(pid).ok()?,
        stat: buf[36],
        sec: u64::try_from(sec).ok()?,
        usec: u64::try_from(usec).ok().filter(|&u| u < 1_000_000)?,
    })
}

/// A listening TCP socket as `sysctl net.inet.tcp.pcblist_n` shows it to any user: the local
/// port and the uid that owns the socket (no pid: that needs the fd tables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcbListener {
    pub port: u16,
    pub uid: u32,
}

/// Item kinds in a `pcblist_n` reply (sys/socketvar.h).
pub const XSO_SOCKET: u32 = 0x001;
pub const XSO_INPCB: u32 = 0x010;
pub const XSO_TCPCB: u32 = 0x020;
/// `struct xinpgen` (24 bytes: len, count, gen, sogen) opens and closes the reply.
pub const XINPGEN_LEN: usize = 24;
/// `struct xsocket_n`: `so_uid` at 68 (len, kind, xso_so, so_type, so_options, so_linger,
/// so_state, so_pcb, protocol, family, five shorts, so_pgid, so_oobmark, so_uid).
pub const XSOCKET_N_UID: usize = 68;
/// `struct xinpcb_n`: `inp_lport` (u_short, network order) at 18 (len, kind, xi_inpp, fport).
pub const XINPCB_N_LPORT: usize = 18;
/// `struct xtcpcb_n`: `t_state` at 36 (len, kind, t_segq, t_dupacks, t_timer[4]).
pub const XTCPCB_N_STATE: usize = 36;
/// `TCPS_LISTEN` (netinet/tcp_fsm.h).
pub const TCPS_LISTEN: i32 = 1;

fn roundup64(n: usize) -> usize {
    if n == 0 {
        8
    } else {
        (n + 7) & !7
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The LISTEN sockets in a `net.inet.tcp.pcblist_n` reply: an `xinpgen`, then per socket a
/// group of items (`xinpcb_n`, `xsocket_n`, two `xsockbuf_n`, `xsockstat_n`, `xtcpcb_n`),
/// each `len, kind, ...` and advanced by its length rounded up to 8, then a closing `xinpgen`.
/// `None` when the reply is cut short or malformed: then who listens is unknown.
pub fn parse_pcblist_n(buf: &[u8]) -> Option<Vec<PcbListener>> {
    let head = u32_at(buf, 0)? as usize;
    if head < XINPGEN_LEN || head > buf.len() {
        return None;
    }
    let mut at = roundup64(head);
    let (mut port, mut uid): (Option<u16>, Option<u32>) = (None, None);
    let mut out = Vec::new();
    loop {
        let len = u32_at(buf, at)? as usize;
        if len <= XINPGEN_LEN {
            // The closing xinpgen: the list is whole.
            return Some(out);
        }
        let item = buf.get(at..at.checked_add(len)?)?;
        match u32_at(item, 4)? {
            XSO_INPCB => {
                let raw = item.get(XINPCB_N_LPORT..XINPCB_N_LPORT + 2)?;
                port = Some(u16::from_be_bytes([raw[0], raw[1]]));
                uid = None;
            }
            XSO_SOCKET => uid = Some(u32_at(item, XSOCKET_N_UID)?),
            XSO_TCPCB => {
                let state = u32_at(item, XTCPCB_N_STATE)? as i32;
                if let (Some(p), Some(u), TCPS_LISTEN) = (port, uid, state) {
                    out.push(PcbListener { port: p, uid: u });
                }
                (port, uid) = (None, None);
            }
            _ => {}
        }
        at = at.checked_add(roundup64(len))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn layouts_match_apples_headers() {
        // Offsets computed by hand from sys/proc_info.h for LP64.
        assert_eq!(offset_of!(SocketFdInfo, psi), 24);
        assert_eq!(offset_of!(SocketInfo, soi_so), 136);
        assert_eq!(offset_of!(SocketInfo, soi_type), 152);
        assert_eq!(offset_of!(SocketInfo, soi_oobmark), 180);
        assert_eq!(offset_of!(SocketInfo, soi_rcv), 184);
        assert_eq!(offset_of!(SocketInfo, soi_kind), 232);
        assert_eq!(offset_of!(SocketInfo, pri_tcp), 240);
        assert_eq!(std::mem::size_of::<SocketInfo>(), 768);
        assert_eq!(offset_of!(InSockInfo, insi_gencnt), 8);
        assert_eq!(offset_of!(InSockInfo, insi_vflag), 24);
        assert_eq!(offset_of!(InSockInfo, rfu_1), 28);
        assert_eq!(offset_of!(InSockInfo, insi_faddr), 32);
        assert_eq!(offset_of!(InSockInfo, insi_laddr), 48);
        assert_eq!(offset_of!(InSockInfo, insi_v4_tos), 64);
        assert_eq!(offset_of!(InSockInfo, insi_v6), 68);
        assert_eq!(
            offset_of!(InSockInfo, insi_v6) + offset_of!(InSockV6, in6_cksum),
            72
        );
        assert_eq!(
            offset_of!(InSockInfo, insi_v6) + offset_of!(InSockV6, in6_hops),
            78
        );
        assert_eq!(offset_of!(TcpSockInfo, tcpsi_state), 80);
        assert_eq!(offset_of!(TcpSockInfo, tcpsi_tp), 112);
        assert_eq!(std::mem::align_of::<SocketFdInfo>(), 8);
        assert_eq!(offset_of!(ProcBsdShortInfo, pbsi_comm), 16);
        assert_eq!(offset_of!(ProcBsdShortInfo, pbsi_uid), 36);
    }

    fn tcp(state: i32, vflag: u8, port: u16, addr: [u8; 16]) -> SocketFdInfo {
        let mut s = SocketFdInfo::default();
        s.psi.soi_kind = SOCKINFO_TCP;
        s.psi.pri_tcp.tcpsi_state = state;
        s.psi.pri_tcp.tcpsi_ini.insi_vflag = vflag;
        s.psi.pri_tcp.tcpsi_ini.insi_lport = raw_port(port);
        s.psi.pri_tcp.tcpsi_ini.insi_laddr = addr;
        s
    }

    #[test]
    fn listening_sockets_are_told_from_the_rest() {
        let mut v4 = [0u8; 16];
        v4[12..].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(
            listening_of(&tcp(TSI_S_LISTEN, INI_IPV4, 8080, v4)),
            Some(Listening {
                address: "127.0.0.1".into(),
                port: 8080,
                family: Family::Ipv4
            })
        );
        let mut v6 = [0u8; 16];
        v6[15] = 1;
        assert_eq!(
            listening_of(&tcp(TSI_S_LISTEN, INI_IPV6, 443, v6)),
            Some(Listening {
                address: "::1".into(),
                port: 443,
                family: Family::Ipv6
            })
        );
        // Dual-stack (both flags) is the IPv6 socket bound to ::.
        assert_eq!(
            listening_of(&tcp(TSI_S_LISTEN, INI_IPV4 | INI_IPV6, 65535, [0; 16])),
            Some(Listening {
                address: "::".into(),
                port: 65535,
                family: Family::Ipv6
            })
        );
        // Established, not TCP, or no family: not a listener.
        assert_eq!(listening_of(&tcp(4, INI_IPV4, 8080, v4)), None);
        assert_eq!(listening_of(&tcp(TSI_S_LISTEN, 0, 8080, v4)), None);
        let mut un = tcp(TSI_S_LISTEN, INI_IPV4, 8080, v4);
        un.psi.soi_kind = 3;
        assert_eq!(listening_of(&un), None);
        assert_eq!(listening_of(&SocketFdInfo::default()), None);
    }

    #[test]
    fn ports_are_network_order() {
        // 8080 = 0x1f90; in network order the int holds 0x901f on a little-endian Mac.
        if cfg!(target_endian = "little") {
            assert_eq!(raw_port(8080), 0x901f);
            assert_eq!(port_of(0x901f), 8080);
        }
        for p in [0u16, 1, 80, 443, 8080, 65535] {
            assert_eq!(port_of(raw_port(p)), p);
        }
        // Junk above 16 bits is ignored, never a panic.
        assert_eq!(port_of(raw_port(80) | 0x7fff_0000), 80);
        assert_eq!(port_of(-1), 65535);
    }

    fn procargs(argc: i32, exe: &str, pad: usize, args: &[&str], env: &[&str]) -> Vec<u8> {
        let mut b = argc.to_ne_bytes().to_vec();
        b.extend_from_slice(exe.as_bytes());
        b.push(0);
        b.extend(std::iter::repeat_n(0u8, pad));
        for a in args.iter().chain(env) {
            b.extend_from_slice(a.as_bytes());
            b.push(0);
        }
        b
    }

    #[test]
    fn procargs2_parses_and_refuses_garbage() {
        let b = procargs(
            3,
            "/usr/local/bin/node",
            5,
            &["node", "server.js", ""],
            &["HOME=/Users/me"],
        );
        assert_eq!(
            parse_procargs2(&b),
            Some((
                "/usr/local/bin/node".into(),
                vec!["node".into(), "server.js".into(), "".into()]
            ))
        );
        // No padding, argc 0, non-UTF-8 bytes.
        let b = procargs(1, "/bin/sh", 0, &["sh"], &[]);
        assert_eq!(
            parse_procargs2(&b),
            Some(("/bin/sh".into(), vec!["sh".into()]))
        );
        assert_eq!(
            parse_procargs2(&procargs(0, "/x", 3, &[], &[])),
            Some(("/x".into(), vec![]))
        );
        let mut b = procargs(1, "/x", 1, &["a"], &[]);
        let n = b.len();
        b[n - 2] = 0xff;
        assert_eq!(parse_procargs2(&b).unwrap().1, vec!["\u{fffd}".to_string()]);
        // Truncated anywhere: never a partial answer, never a panic.
        let full = procargs(2, "/usr/bin/python3", 4, &["python3", "-m"], &["A=B"]);
        let argv_end = full.windows(3).position(|w| w == b"-m\0").unwrap() + 3;
        for cut in 0..=full.len() {
            let r = parse_procargs2(&full[..cut]);
            if cut < argv_end {
                assert_eq!(r, None, "cut {cut}");
            } else {
                assert_eq!(r.unwrap().1, vec!["python3".to_string(), "-m".into()]);
            }
        }
        // Negative or huge argc, no terminator, empty.
        assert_eq!(parse_procargs2(&procargs(-1, "/x", 0, &["a"], &[])), None);
        assert_eq!(
            parse_procargs2(&procargs(i32::MAX, "/x", 0, &["a"], &[])),
            None
        );
        assert_eq!(parse_procargs2(b"\x01\0\0\0/no/terminator"), None);
        assert_eq!(parse_procargs2(&[]), None);
        assert_eq!(parse_procargs2(&[1, 0]), None);
        // Arbitrary bytes never panic.
        let mut seed = 0x1234_5678u32;
        for len in 0..300 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 24) as u8 & 0x0f
                })
                .collect();
            let _ = parse_procargs2(&junk);
        }
    }

    #[test]
    fn remote_filesystems_are_named() {
        assert_eq!(remote_fs_kind("nfs"), Some("NFS"));
        assert_eq!(remote_fs_kind("smbfs"), Some("SMB"));
        assert_eq!(remote_fs_kind("afpfs"), Some("AFP"));
        assert_eq!(remote_fs_kind("webdav"), Some("WebDAV"));
        for local in ["apfs", "hfs", "devfs", "tmpfs", "msdos", "exfat", ""] {
            assert_eq!(remote_fs_kind(local), None, "{local}");
        }
        let mut raw = [0u8; 16];
        raw[..5].copy_from_slice(b"smbfs");
        assert_eq!(c_name(&raw), "smbfs");
        assert_eq!(c_name(b"apfsnoterminator"), "apfsnoterminator");
    }

    #[test]
    fn start_tokens_are_exact_and_pids_are_filtered() {
        assert_eq!(
            start_token(1_700_000_000, 123_456),
            "mac-usecs:1700000000123456"
        );
        assert_ne!(start_token(10, 1), start_token(10, 2));
        assert_eq!(start_ms(1_700_000_000, 123_456), 1_700_000_000_123);
        assert_eq!(start_token(u64::MAX, 5), format!("mac-usecs:{}", u64::MAX));
        assert_eq!(pids_in(&[1, 0, 55, -3, 7], 16), vec![1, 55]);
        assert_eq!(pids_in(&[1, 2], 400), vec![1, 2]);
    }

    fn item(kind: u32, len: usize, fill: &[(usize, &[u8])]) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
        b[4..8].copy_from_slice(&kind.to_ne_bytes());
        for (at, bytes) in fill {
            b[*at..*at + bytes.len()].copy_from_slice(bytes);
        }
        b.resize(roundup64(len), 0);
        b
    }

    fn pcb(port: u16, uid: u32, state: i32) -> Vec<u8> {
        let mut b = item(XSO_INPCB, 132, &[(XINPCB_N_LPORT, &port.to_be_bytes())]);
        b.extend(item(XSO_SOCKET, 80, &[(XSOCKET_N_UID, &uid.to_ne_bytes())]));
        b.extend(item(0x002, 36, &[]));
        b.extend(item(0x004, 36, &[]));
        b.extend(item(0x008, 424, &[]));
        b.extend(item(
            XSO_TCPCB,
            204,
            &[(XTCPCB_N_STATE, &state.to_ne_bytes())],
        ));
        b
    }

    fn gen() -> Vec<u8> {
        item(0, XINPGEN_LEN, &[])
    }

    #[test]
    fn pcblist_n_listeners_and_cut_replies() {
        let mut b = gen();
        b.extend(pcb(8080, 501, TCPS_LISTEN));
        b.extend(pcb(8080, 501, 4)); // an accepted connection on the same port
        b.extend(pcb(22, 0, TCPS_LISTEN));
        b.extend(gen());
        assert_eq!(
            parse_pcblist_n(&b),
            Some(vec![
                PcbListener {
                    port: 8080,
                    uid: 501
                },
                PcbListener { port: 22, uid: 0 },
            ])
        );
        // Empty list.
        let mut e = gen();
        e.extend(gen());
        assert_eq!(parse_pcblist_n(&e), Some(vec![]));
        // Cut anywhere before the closing xinpgen: unknown, never a partial list.
        let close = b.len() - XINPGEN_LEN;
        for cut in 0..close + 4 {
            assert_eq!(parse_pcblist_n(&b[..cut]), None, "cut {cut}");
        }
        // Garbage: an item longer than the buffer, a bad header, random bytes.
        let mut bad = gen();
        bad.extend(item(XSO_INPCB, 64, &[]));
        bad[XINPGEN_LEN..XINPGEN_LEN + 4].copy_from_slice(&4096u32.to_ne_bytes());
        assert_eq!(parse_pcblist_n(&bad), None);
        assert_eq!(parse_pcblist_n(&[0xff; 8]), None);
        assert_eq!(parse_pcblist_n(&[]), None);
        let mut seed = 7u32;
        for len in 0..400 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            let _ = parse_pcblist_n(&junk);
        }
        // A group whose state comes without its inpcb is not reported.
        let mut lone = gen();
        lone.extend(item(
            XSO_TCPCB,
            204,
            &[(XTCPCB_N_STATE, &1i32.to_ne_bytes())],
        ));
        lone.extend(gen());
        assert_eq!(parse_pcblist_n(&lone), Some(vec![]));
    }

    #[test]
    fn kinfo_proc_start_and_state() {
        let mut b = vec![0u8; KINFO_PROC_LEN];
        b[0..8].copy_from_slice(&1_700_000_000i64.to_ne_bytes());
        b[8..12].copy_from_slice(&654_321i32.to_ne_bytes());
        b[36] = 2; // SRUN
        b[40..44].copy_from_slice(&4242i32.to_ne_bytes());
        let k = parse_kinfo_proc(&b).unwrap();
        assert_eq!(
            k,
            KinfoStart {
                pid: 4242,
                stat: 2,
                sec: 1_700_000_000,
                usec: 654_321
            }
        );
        assert_eq!(start_token(k.sec, k.usec), "mac-usecs:1700000000654321");
        // No process (0 bytes), short, negative or out-of-range fields.
        assert_eq!(parse_kinfo_proc(&[]), None);
        assert_eq!(parse_kinfo_proc(&b[..KINFO_PROC_LEN - 1]), None);
        let mut neg = b.clone();
        neg[0..8].copy_from_slice(&(-1i64).to_ne_bytes());
        assert_eq!(parse_kinfo_proc(&neg), None);
        let mut us = b.clone();
        us[8..12].copy_from_slice(&1_000_000i32.to_ne_bytes());
        assert_eq!(parse_kinfo_proc(&us), None);
        let mut pid = b;
        pid[40..44].copy_from_slice(&(-5i32).to_ne_bytes());
        assert_eq!(parse_kinfo_proc(&pid), None);
    }

    #[test]
    fn procargs2_environment_stops_at_the_apple_strings() {
        let mut buf = 2i32.to_ne_bytes().to_vec();
        buf.extend_from_slice(b"/usr/bin/node\0\0\0\0node\0server.js\0");
        buf.extend_from_slice(b"HOME=/Users/a\0PID_GUARD_HOLDER_00=pid=1 start=x guard=/a b\0\0");
        buf.extend_from_slice(b"executable_path=/usr/bin/node\0ptr_munge=\0");
        let env = parse_procargs2_env(&buf).unwrap();
        assert_eq!(
            env,
            b"HOME=/Users/a\0PID_GUARD_HOLDER_00=pid=1 start=x guard=/a b\0".to_vec()
        );
        assert_eq!(
            crate::marker::find_in_environ(&env, "PID_GUARD_HOLDER_00"),
            Some(&b"pid=1 start=x guard=/a b"[..])
        );
        assert_eq!(
            parse_procargs2(&buf),
            Some((
                "/usr/bin/node".into(),
                vec!["node".into(), "server.js".into()]
            ))
        );
        // No environment at all, and one cut off by the end of the buffer.
        let mut bare = 1i32.to_ne_bytes().to_vec();
        bare.extend_from_slice(b"/bin/sh\0sh\0");
        assert_eq!(parse_procargs2_env(&bare), Some(Vec::new()));
        let mut cut = bare.clone();
        cut.extend_from_slice(b"A=1\0PID_GUARD_HOLDER_00=pid=1 sta");
        assert_eq!(parse_procargs2_env(&cut), Some(b"A=1\0".to_vec()));
        // A truncated argv is not a command line, and no environment is read past it.
        assert_eq!(parse_procargs2_env(&buf[..20]), None);
        assert_eq!(parse_procargs2_env(&[1, 0]), None);
    }
}
