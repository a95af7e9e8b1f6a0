//! Windows: listening sockets and their owners (`GetExtendedTcpTable`), a file's link count and
//! kind (`GetFileInformationByHandle`), its owner (the security descriptor's owner SID against
//! this process's token) and who else its DACL lets write, files and directories created
//! private to this user, and the graceful and hard ways to stop a process
//! (`WM_CLOSE` to its top-level windows, `TerminateProcess`).

use std::io;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_INSUFFICIENT_BUFFER, HWND, LPARAM, NO_ERROR,
};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetExtendedTcpTable, MIB_TCP6ROW_OWNER_PID, MIB_TCPROW_OWNER_PID, TCP_TABLE_OWNER_PID_LISTENER,
};
use windows_sys::Win32::Networking::WinSock::{AF_INET, AF_INET6};

/// One listening TCP socket: its local address, port and owning process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpListener {
    pub address: std::net::IpAddr,
    pub port: u16,
    pub pid: u32,
}

/// Every listening TCP socket of the machine, IPv4 and IPv6, with the owning PID. The table
/// lists every process's sockets to every user, so there is no "hidden owner" on Windows.
pub fn tcp_listeners() -> io::Result<Vec<TcpListener>> {
    let mut out = Vec::new();
    for af in [AF_INET, AF_INET6] {
        let buf = table(af as u32)?;
        // The table: a u32 count, then the rows (aligned as the struct requires).
        let n = (buf[0] & 0xffff_ffff) as usize; // little-endian: the low half comes first
        if af == AF_INET {
            let rows = rows::<MIB_TCPROW_OWNER_PID>(&buf, n);
            for r in rows {
                out.push(TcpListener {
                    // dwLocalAddr is in network byte order, as stored in memory.
                    address: std::net::Ipv4Addr::from(r.dwLocalAddr.to_ne_bytes()).into(),
                    port: net_port(r.dwLocalPort),
                    pid: r.dwOwningPid,
                });
            }
        } else {
            for r in rows::<MIB_TCP6ROW_OWNER_PID>(&buf, n) {
                out.push(TcpListener {
                    address: std::net::Ipv6Addr::from(r.ucLocalAddr).into(),
                    port: net_port(r.dwLocalPort),
                    pid: r.dwOwningPid,
                });
            }
        }
    }
    Ok(out)
}

/// A port as the table stores it: the low 16 bits, in network byte order.
pub fn net_port(raw: u32) -> u16 {
    u16::from_be_bytes([(raw & 0xff) as u8, ((raw >> 8) & 0xff) as u8])
}

fn rows<T: Copy>(buf: &[u64], n: usize) -> Vec<T> {
    let bytes = buf.len() * 8;
    let align = std::mem::align_of::<T>().max(4);
    let size = std::mem::size_of::<T>();
    let n = n.min(bytes.saturating_sub(align) / size);
    // SAFETY: buf is 8-aligned and holds at least `align + n * size` bytes (checked above); the
    // rows are plain integers, any bit pattern is valid.
    unsafe {
        let first = (buf.as_ptr() as *const u8).add(align) as *const T;
        (0..n)
            .map(|i| std::ptr::read_unaligned(first.add(i)))
            .collect()
    }
}

fn table(af: u32) -> io::Result<Vec<u64>> {
    let mut size: u32 = 16 * 1024;
    for _ in 0..8 {
        let mut buf = vec![0u64; (size as usize).div_ceil(8) + 1];
        let mut got = (buf.len() * 8) as u32;
        // SAFETY: the buffer is writable for `got` bytes; the call writes at most that.
        let rc = unsafe {
            GetExtendedTcpTable(
                buf.as_mut_ptr().cast(),
                &mut got,
                0,
                af,
                TCP_TABLE_OWNER_PID_LISTENER,
                0,
            )
        };
        match rc {
            NO_ERROR => return Ok(buf),
            ERROR_INSUFFICIENT_BUFFER => size = got.max(size * 2),
            e => return Err(io::Error::from_raw_os_error(e as i32)),
        }
    }
    Err(io::Error::other("the TCP table kept growing"))
}

/// What `GetFileInformationByHandle` says of an open file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileInfo {
    pub links: u32,
    /// A directory or a reparse point (a symbolic link or junction), not a plain file.
    pub directory: bool,
    pub reparse: bool,
    pub volume: u32,
    pub index: u64,
}

/// Whether `path` lies on a network volume (`GetVolumePathNameW`, then `GetDriveTypeW` of its
/// root: `DRIVE_REMOTE` for a UNC share or a mapped drive); `None` when the volume cannot be named.
pub fn is_remote_volume(path: &std::path::Path) -> Option<bool> {
    use std::os::windows::ffi::OsStrExt;
    use windows_sys::Win32::Storage::FileSystem::{GetDriveTypeW, GetVolumePathNameW};
    const DRIVE_REMOTE: u32 = 4;
    let wide: Vec<u16> = path.as_os_str().encode_wide().chain(Some(0)).collect();
    let mut root = vec![0u16; wide.len() + 8];
    // SAFETY: both buffers are valid and NUL-terminated; the length is root's capacity.
    if unsafe { GetVolumePathNameW(wide.as_ptr(), root.as_mut_ptr(), root.len() as u32) } == 0 {
        return None;
    }
    // SAFETY: root is the NUL-terminated volume path the call wrote.
    Some(unsafe { GetDriveTypeW(root.as_ptr()) } == DRIVE_REMOTE)
}

pub fn file_info(f: &std::fs::File) -> io::Result<FileInfo> {
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Storage::FileSystem::{
        GetFileInformationByHandle, BY_HANDLE_FILE_INFORMATION, FILE_ATTRIBUTE_DIRECTORY,
        FILE_ATTRIBUTE_REPARSE_POINT,
    };
    // SAFETY: zeroed plain-data struct, filled by the call from a valid handle.
    let mut i: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    if unsafe { GetFileInformationByHandle(f.as_raw_handle() as _, &mut i) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(FileInfo {
        links: i.nNumberOfLinks,
        directory: i.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY != 0,
        reparse: i.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT != 0,
        volume: i.dwVolumeSerialNumber,
        index: (u64::from(i.nFileIndexHigh) << 32) | u64::from(i.nFileIndexLow),
    })
}

/// Who owns a file or directory, as its security descriptor says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// This process's user (the token's user SID), or BUILTIN\Administrators while this process
    /// runs elevated as a member of it: Windows makes Administrators, not the user, the owner of
    /// what an elevated administrator creates, so without this every file an elevated
    /// pid-guard created would be "someone else's" to the next elevated run. A non-elevated
    /// process of the same administrator has the group as deny-only, so to it such a file is
    /// [`Owner::System`]: it was made by an elevated process.
    Ours,
    /// LocalSystem or BUILTIN\Administrators, not ours: trusted for a directory (as root's is on
    /// Unix), never for a file pid-guard writes through, replaces or removes. The account.
    System(String),
    /// Another account: its name and SID, for messages.
    Other(String),
}

/// The owner of an open file or directory (`GetSecurityInfo`, `OWNER_SECURITY_INFORMATION`;
/// the handle needs `READ_CONTROL`, which `GENERIC_READ` includes). An error when it cannot be
/// read (no such right, a volume that keeps no owners such as FAT): unknown, never ours.
pub fn owner_of(h: &impl std::os::windows::io::AsRawHandle) -> io::Result<Owner> {
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Authorization::{GetSecurityInfo, SE_FILE_OBJECT};
    use windows_sys::Win32::Security::{
        CheckTokenMembership, EqualSid, IsWellKnownSid, WinBuiltinAdministratorsSid,
        WinLocalSystemSid, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID,
    };
    let mut owner: PSID = std::ptr::null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: a valid handle; on success `owner` points into `sd`, freed with LocalFree below.
    let rc = unsafe {
        GetSecurityInfo(
            h.as_raw_handle() as _,
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut sd,
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc as i32));
    }
    let res = (|| {
        if owner.is_null() {
            return Err(io::Error::other("the file has no owner"));
        }
        let me = token_user()?;
        // SAFETY: both SIDs are valid for the duration (`sd` and `me` are alive).
        unsafe {
            if EqualSid(owner, me.as_ptr() as PSID) != 0 {
                return Ok(Owner::Ours);
            }
            let admins = IsWellKnownSid(owner, WinBuiltinAdministratorsSid) != 0;
            if admins {
                // NULL token: this thread's (or process's) effective token; an enabled group
                // only, so a filtered (non-elevated) administrator token is no member.
                let mut member = 0;
                if CheckTokenMembership(std::ptr::null_mut(), owner, &mut member) != 0
                    && member != 0
                {
                    return Ok(Owner::Ours);
                }
            }
            let name = sid_name(owner);
            if admins || IsWellKnownSid(owner, WinLocalSystemSid) != 0 {
                Ok(Owner::System(name))
            } else {
                Ok(Owner::Other(name))
            }
        }
    })();
    // SAFETY: the descriptor GetSecurityInfo allocated, freed once.
    unsafe { LocalFree(sd as _) };
    res
}

/// The entry at `path` itself (a link itself unless `follow`; a directory too), opened for
/// `READ_CONTROL` only, with every share mode: to read its owner and DACL.
pub fn open_entry(path: &std::path::Path, follow: bool) -> io::Result<std::fs::File> {
    use std::os::windows::fs::OpenOptionsExt;
    use windows_sys::Win32::Storage::FileSystem::{
        FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT, FILE_SHARE_DELETE,
        FILE_SHARE_READ, FILE_SHARE_WRITE, READ_CONTROL,
    };
    let flags = FILE_FLAG_BACKUP_SEMANTICS
        | if follow {
            0
        } else {
            FILE_FLAG_OPEN_REPARSE_POINT
        };
    std::fs::OpenOptions::new()
        .access_mode(READ_CONTROL)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        .custom_flags(flags)
        .open(path)
}

/// The owner of the entry at `path` ([`open_entry`]).
pub fn owner_at(path: &std::path::Path, follow: bool) -> io::Result<Owner> {
    owner_of(&open_entry(path, follow)?)
}

/// Rights on a file that let an account rewrite, remove or rename it, or give itself any of
/// those (the DACL or the owner): what mode `022` is on Unix, for the files pid-guard writes.
pub const FILE_WRITE_RIGHTS: u32 = {
    use windows_sys::Win32::Foundation::{GENERIC_ALL, GENERIC_WRITE};
    use windows_sys::Win32::Storage::FileSystem::{
        DELETE, FILE_APPEND_DATA, FILE_WRITE_DATA, WRITE_DAC, WRITE_OWNER,
    };
    FILE_WRITE_DATA
        | FILE_APPEND_DATA
        | DELETE
        | WRITE_DAC
        | WRITE_OWNER
        | GENERIC_WRITE
        | GENERIC_ALL
};

/// Rights on a directory pid-guard creates and keeps private (`N.shared`, its default
/// directory): adding, removing or renaming entries, as well as the file rights.
pub const PRIVATE_DIR_RIGHTS: u32 =
    FILE_WRITE_RIGHTS | windows_sys::Win32::Storage::FileSystem::FILE_DELETE_CHILD;

/// Rights on a guard directory someone else chose (`PID_GUARD_DIR`) that let an account
/// remove, rename or replace what pid-guard keeps there: deleting entries, renaming the
/// directory itself, or taking over its DACL or owner. Creating entries alone is allowed, as a
/// sticky `1777` directory is on Unix: every entry pid-guard uses carries its own private DACL
/// and is refused when someone else owns it.
pub const SHARED_DIR_RIGHTS: u32 = {
    use windows_sys::Win32::Foundation::GENERIC_ALL;
    use windows_sys::Win32::Storage::FileSystem::{
        DELETE, FILE_DELETE_CHILD, WRITE_DAC, WRITE_OWNER,
    };
    FILE_DELETE_CHILD | DELETE | WRITE_DAC | WRITE_OWNER | GENERIC_ALL
};

/// The accounts, other than this user, LocalSystem and Administrators, that the DACL of the
/// open file or directory grants any of `rights` (one of the `*_RIGHTS` above), named for a
/// message ("Everyone (S-1-1-0)"). Empty when only those may. A NULL DACL (anyone may do
/// anything) is named as such. An error when the DACL cannot be read (no `READ_CONTROL`, a
/// volume that keeps none such as FAT): unknown, which callers do not take for "private".
/// Deny entries are not subtracted: an allow entry for another account is reported even when
/// a deny entry before it takes part of it back, so the answer errs on the side of refusing.
pub fn others_who_may_write(
    h: &impl std::os::windows::io::AsRawHandle,
    rights: u32,
) -> io::Result<Vec<String>> {
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Authorization::{GetSecurityInfo, SE_FILE_OBJECT};
    use windows_sys::Win32::Security::{
        EqualSid, GetAce, IsWellKnownSid, WinBuiltinAdministratorsSid, WinCreatorOwnerRightsSid,
        WinCreatorOwnerSid, WinLocalSystemSid, ACCESS_ALLOWED_ACE, ACE_HEADER, ACL,
        DACL_SECURITY_INFORMATION, INHERIT_ONLY_ACE, OWNER_SECURITY_INFORMATION,
        PSECURITY_DESCRIPTOR, PSID,
    };
    // winnt.h; their module (System_SystemServices) is not otherwise needed.
    const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
    const ACCESS_ALLOWED_CALLBACK_ACE_TYPE: u8 = 9;
    let mut owner: PSID = std::ptr::null_mut();
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: a valid handle; on success `owner` and `dacl` point into `sd`, freed below.
    let rc = unsafe {
        GetSecurityInfo(
            h.as_raw_handle() as _,
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | OWNER_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            &mut dacl,
            std::ptr::null_mut(),
            &mut sd,
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc as i32));
    }
    let res = (|| {
        if dacl.is_null() {
            return Ok(vec![
                "Everyone (it has no DACL at all, so anyone may do anything with it)".to_string(),
            ]);
        }
        let me = token_user()?;
        let me = me.as_ptr() as PSID;
        let mut out: Vec<String> = Vec::new();
        // SAFETY: `dacl` is a valid ACL inside `sd`; each ACE GetAce returns lies inside it,
        // and an allow ACE's SID starts at SidStart.
        unsafe {
            for i in 0..u32::from((*dacl).AceCount) {
                let mut ace: *mut core::ffi::c_void = std::ptr::null_mut();
                if GetAce(dacl, i, &mut ace) == 0 {
                    return Err(io::Error::last_os_error());
                }
                let hdr = &*(ace as *const ACE_HEADER);
                if u32::from(hdr.AceFlags) & INHERIT_ONLY_ACE != 0
                    || !matches!(
                        hdr.AceType,
                        ACCESS_ALLOWED_ACE_TYPE | ACCESS_ALLOWED_CALLBACK_ACE_TYPE
                    )
                {
                    continue;
                }
                let a = &*(ace as *const ACCESS_ALLOWED_ACE);
                if a.Mask & rights == 0 {
                    continue;
                }
                let sid = std::ptr::addr_of!(a.SidStart) as PSID;
                let owner_is_me = !owner.is_null() && EqualSid(owner, me) != 0;
                let trusted = EqualSid(sid, me) != 0
                    || IsWellKnownSid(sid, WinLocalSystemSid) != 0
                    || IsWellKnownSid(sid, WinBuiltinAdministratorsSid) != 0
                    // Stands for the owner, whose check is separate (and who is us here).
                    || (IsWellKnownSid(sid, WinCreatorOwnerRightsSid) != 0 && owner_is_me)
                    // Only meaningful in inheritable entries; on the object it grants nothing.
                    || IsWellKnownSid(sid, WinCreatorOwnerSid) != 0;
                if !trusted {
                    let name = sid_name(sid);
                    if !out.contains(&name) {
                        out.push(name);
                    }
                }
            }
        }
        Ok(out)
    })();
    // SAFETY: the descriptor GetSecurityInfo allocated, freed once.
    unsafe { LocalFree(sd as _) };
    res
}

/// A security descriptor that gives full access to this user, LocalSystem and Administrators
/// and nobody else, and inherits nothing from the parent: Windows' mode `600` (a file) or
/// `700` (a directory, whose entries inherit it). What pid-guard creates its files and
/// directories with, so an inherited "Users may write" never reaches them, not even for the
/// instant between creating a file and restricting it.
struct PrivateSd(windows_sys::Win32::Security::PSECURITY_DESCRIPTOR);

impl PrivateSd {
    fn new(dir: bool) -> io::Result<PrivateSd> {
        use std::os::windows::ffi::OsStrExt;
        use windows_sys::Win32::Foundation::LocalFree;
        use windows_sys::Win32::Security::Authorization::{
            ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW,
            SDDL_REVISION_1,
        };
        let me = token_user()?;
        let mut s: *mut u16 = std::ptr::null_mut();
        // SAFETY: a valid SID; the string is allocated by the call and freed with LocalFree.
        let sid = unsafe {
            if ConvertSidToStringSidW(me.as_ptr() as _, &mut s) == 0 {
                return Err(io::Error::last_os_error());
            }
            let mut n = 0;
            while *s.add(n) != 0 {
                n += 1;
            }
            let text = String::from_utf16_lossy(std::slice::from_raw_parts(s, n));
            LocalFree(s as _);
            text
        };
        let inherit = if dir { "OICI" } else { "" };
        let sddl = format!("D:P(A;{inherit};FA;;;{sid})(A;{inherit};FA;;;SY)(A;{inherit};FA;;;BA)");
        let wide: Vec<u16> = std::ffi::OsStr::new(&sddl)
            .encode_wide()
            .chain(Some(0))
            .collect();
        let mut sd = std::ptr::null_mut();
        // SAFETY: a NUL-terminated SDDL string; `sd` is allocated by the call (freed on drop).
        if unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                wide.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                std::ptr::null_mut(),
            )
        } == 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(PrivateSd(sd))
    }

    fn attributes(&self) -> windows_sys::Win32::Security::SECURITY_ATTRIBUTES {
        windows_sys::Win32::Security::SECURITY_ATTRIBUTES {
            nLength: std::mem::size_of::<windows_sys::Win32::Security::SECURITY_ATTRIBUTES>()
                as u32,
            lpSecurityDescriptor: self.0,
            bInheritHandle: 0,
        }
    }
}

impl Drop for PrivateSd {
    fn drop(&mut self) {
        // SAFETY: allocated by ConvertStringSecurityDescriptorToSecurityDescriptorW, freed once.
        unsafe { windows_sys::Win32::Foundation::LocalFree(self.0 as _) };
    }
}

fn wide_path(path: &std::path::Path) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    path.as_os_str().encode_wide().chain(Some(0)).collect()
}

/// Creates the directory `path` (not its parents) private to this user ([`PrivateSd`]).
pub fn create_dir_private(path: &std::path::Path) -> io::Result<()> {
    use windows_sys::Win32::Storage::FileSystem::CreateDirectoryW;
    let sd = PrivateSd::new(true)?;
    let sa = sd.attributes();
    let p = wide_path(path);
    // SAFETY: a NUL-terminated path and valid security attributes that outlive the call.
    if unsafe { CreateDirectoryW(p.as_ptr(), &sa) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// How [`open_private`] opens.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// A new file only (`CREATE_NEW`): `AlreadyExists` when anything is there.
    New,
    /// The file there, or a new one (`OPEN_ALWAYS`; never truncated).
    Always,
}

/// Opens `path` for reading and writing as `std::fs::OpenOptions` would (every share mode; a
/// link is the caller's check, made before), creating it private to this user ([`PrivateSd`])
/// when it does not exist. An existing file keeps its DACL: the
/// caller checks it ([`others_who_may_write`]).
pub fn open_private(path: &std::path::Path, how: Create) -> io::Result<std::fs::File> {
    use std::os::windows::io::FromRawHandle;
    use windows_sys::Win32::Foundation::{GENERIC_READ, GENERIC_WRITE, INVALID_HANDLE_VALUE};
    use windows_sys::Win32::Storage::FileSystem::{
        CreateFileW, CREATE_NEW, FILE_ATTRIBUTE_NORMAL, FILE_SHARE_DELETE, FILE_SHARE_READ,
        FILE_SHARE_WRITE, OPEN_ALWAYS,
    };
    let sd = PrivateSd::new(false)?;
    let sa = sd.attributes();
    let p = wide_path(path);
    let disposition = match how {
        Create::New => CREATE_NEW,
        Create::Always => OPEN_ALWAYS,
    };
    // SAFETY: a NUL-terminated path and valid security attributes that outlive the call; the
    // handle returned is owned by the File.
    let h = unsafe {
        CreateFileW(
            p.as_ptr(),
            GENERIC_READ | GENERIC_WRITE,
            FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
            &sa,
            disposition,
            FILE_ATTRIBUTE_NORMAL,
            std::ptr::null_mut(),
        )
    };
    if h == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a valid handle this process owns and nothing else refers to.
    Ok(unsafe { std::fs::File::from_raw_handle(h as _) })
}

/// This process's user SID (`TokenUser`), in a buffer that holds the SID.
fn token_user() -> io::Result<Vec<u64>> {
    use windows_sys::Win32::Security::{GetTokenInformation, TokenUser, TOKEN_QUERY, TOKEN_USER};
    use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};
    // SAFETY: documented calls; the buffer is as large as the call asks; the token is closed.
    unsafe {
        let mut tok = std::ptr::null_mut();
        if OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut tok) == 0 {
            return Err(io::Error::last_os_error());
        }
        let mut len = 0u32;
        GetTokenInformation(tok, TokenUser, std::ptr::null_mut(), 0, &mut len);
        let mut buf = vec![0u64; (len as usize).div_ceil(8).max(8)];
        let ok = GetTokenInformation(
            tok,
            TokenUser,
            buf.as_mut_ptr().cast(),
            (buf.len() * 8) as u32,
            &mut len,
        );
        let e = io::Error::last_os_error();
        CloseHandle(tok);
        if ok == 0 {
            return Err(e);
        }
        // The SID lives in the same buffer, after the TOKEN_USER header: copy the pointer's
        // target out by keeping the buffer and handing back a pointer-free copy.
        let tu = &*(buf.as_ptr() as *const TOKEN_USER);
        let sid = tu.User.Sid as *const u8;
        let n = windows_sys::Win32::Security::GetLengthSid(sid as _) as usize;
        let mut out = vec![0u64; n.div_ceil(8)];
        std::ptr::copy_nonoverlapping(sid, out.as_mut_ptr().cast::<u8>(), n);
        Ok(out)
    }
}

/// "DOMAIN\name (S-1-5-...)", or just the SID when it names no account this machine knows.
///
/// # Safety
/// `sid` must point to a valid SID.
unsafe fn sid_name(sid: windows_sys::Win32::Security::PSID) -> String {
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW;
    use windows_sys::Win32::Security::LookupAccountSidW;
    let wide = |p: *const u16, n: usize| {
        // SAFETY (caller): `p` holds `n` UTF-16 units.
        String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, n) })
    };
    let mut text = String::from("an unknown SID");
    let mut s: *mut u16 = std::ptr::null_mut();
    // SAFETY: a valid SID; the string is allocated by the call and freed with LocalFree.
    unsafe {
        if ConvertSidToStringSidW(sid, &mut s) != 0 {
            let mut n = 0;
            while *s.add(n) != 0 {
                n += 1;
            }
            text = wide(s, n);
            LocalFree(s as _);
        }
        let (mut name, mut dom) = ([0u16; 256], [0u16; 256]);
        let (mut nn, mut dn, mut kind) = (256u32, 256u32, 0);
        if LookupAccountSidW(
            std::ptr::null(),
            sid,
            name.as_mut_ptr(),
            &mut nn,
            dom.as_mut_ptr(),
            &mut dn,
            &mut kind,
        ) != 0
        {
            let account = wide(name.as_ptr(), nn as usize);
            return if dn == 0 {
                format!("{account} ({text})")
            } else {
                format!("{}\\{account} ({text})", wide(dom.as_ptr(), dn as usize))
            };
        }
    }
    text
}

/// This process's user, "DOMAIN\name (S-1-5-...)", for messages.
pub fn current_user() -> String {
    match token_user() {
        // SAFETY: the buffer holds a valid SID.
        Ok(sid) => unsafe { sid_name(sid.as_ptr() as _) },
        Err(_) => "this user".into(),
    }
}

/// A process's creation time (`GetProcessTimes`), in 100 ns ticks since 1601 (a FILETIME): its
/// identity, exact enough that a later process under the same pid never matches. `None` when
/// it cannot be opened (gone, or another user's protected process).
pub fn creation_time(pid: u32) -> Option<u64> {
    use windows_sys::Win32::Foundation::FILETIME;
    use windows_sys::Win32::System::Threading::{
        GetProcessTimes, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    };
    // SAFETY: OpenProcess has no memory preconditions; the handle is checked and closed.
    unsafe {
        let h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
        if h.is_null() {
            return None;
        }
        let zero = FILETIME {
            dwLowDateTime: 0,
            dwHighDateTime: 0,
        };
        let (mut c, mut e, mut k, mut u) = (zero, zero, zero, zero);
        let ok = GetProcessTimes(h, &mut c, &mut e, &mut k, &mut u);
        CloseHandle(h);
        (ok != 0).then(|| (u64::from(c.dwHighDateTime) << 32) | u64::from(c.dwLowDateTime))
    }
}

/// A FILETIME (100 ns since 1601) as ms since the Unix epoch; `None` before 1970.
pub fn filetime_to_unix_ms(ticks: u64) -> Option<u64> {
    const EPOCH_DIFF: u64 = 116_444_736_000_000_000; // 1601-01-01 to 1970-01-01, in 100 ns
    ticks.checked_sub(EPOCH_DIFF).map(|t| t / 10_000)
}

/// Posts `WM_CLOSE` to every top-level window of `pid` (what closing it by hand does); returns
/// how many windows got it. A console program or a service has none.
pub fn close_windows(pid: u32) -> usize {
    use windows_sys::Win32::UI::WindowsAndMessaging::{
        EnumWindows, GetWindowThreadProcessId, PostMessageW, WM_CLOSE,
    };
    struct Find {
        pid: u32,
        found: Vec<HWND>,
    }
    unsafe extern "system" fn each(hwnd: HWND, lp: LPARAM) -> windows_sys::core::BOOL {
        // SAFETY: lp is the &mut Find passed below, alive for the whole EnumWindows call.
        let f = unsafe { &mut *(lp as *mut Find) };
        let mut owner = 0u32;
        // SAFETY: a window handle given by EnumWindows; owner is a valid out pointer.
        unsafe { GetWindowThreadProcessId(hwnd, &mut owner) };
        if owner == f.pid {
            f.found.push(hwnd);
        }
        1
    }
    let mut f = Find {
        pid,
        found: Vec::new(),
    };
    // SAFETY: the callback only touches `f` through lp, during the call.
    unsafe { EnumWindows(Some(each), &mut f as *mut Find as LPARAM) };
    f.found
        .iter()
        // SAFETY: posting a message to a window handle EnumWindows gave; a stale one fails.
        .filter(|&&h| unsafe { PostMessageW(h, WM_CLOSE, 0, 0) } != 0)
        .count()
}

/// `TerminateProcess(pid, 1)`; a process already gone is not an error.
pub fn terminate(pid: u32) -> io::Result<()> {
    use windows_sys::Win32::System::Threading::{OpenProcess, TerminateProcess, PROCESS_TERMINATE};
    // SAFETY: documented Win32 calls; the handle is closed after use.
    unsafe {
        let h = OpenProcess(PROCESS_TERMINATE, 0, pid);
        if h.is_null() {
            let e = io::Error::last_os_error();
            // ERROR_INVALID_PARAMETER: no such process (any more).
            return if e.raw_os_error() == Some(87) {
                Ok(())
            } else {
                Err(e)
            };
        }
        let ok = TerminateProcess(h, 1);
        let e = io::Error::last_os_error();
        CloseHandle(h);
        if ok == 0 {
            return Err(e);
        }
    }
    Ok(())
}

/// The process group `pid` belongs to, as the console knows it: `ProcessGroupId` in the
/// process's parameters block (its PEB), which `CreateProcess` sets to the new pid for
/// `CREATE_NEW_PROCESS_GROUP` and to the parent's group otherwise. `None` when it cannot be read
/// (another user's process, a protected one, an older Windows without the field), or 0: Wine 8
/// leaves the field 0 in every process (measured), so under Wine no group is ever verified.
pub fn process_group_id(pid: u32) -> Option<u32> {
    use windows_sys::Wdk::System::Threading::{NtQueryInformationProcess, ProcessBasicInformation};
    use windows_sys::Win32::System::Diagnostics::Debug::ReadProcessMemory;
    use windows_sys::Win32::System::Threading::{
        OpenProcess, PROCESS_QUERY_INFORMATION, PROCESS_VM_READ,
    };
    // x64 layouts: PROCESS_BASIC_INFORMATION is six pointer-sized fields, the PEB base the
    // second; PEB.ProcessParameters is at 0x20; RTL_USER_PROCESS_PARAMETERS.Length at 4 and
    // ProcessGroupId at 0x408 (Windows 7 and later).
    const PARAMS_AT: usize = 0x20;
    const GROUP_AT: usize = 0x408;
    // SAFETY: documented calls; every read goes into a local buffer of the size given, and the
    // handle is closed before returning.
    unsafe {
        let h = OpenProcess(PROCESS_QUERY_INFORMATION | PROCESS_VM_READ, 0, pid);
        if h.is_null() {
            return None;
        }
        let read = |at: usize, out: *mut core::ffi::c_void, n: usize| {
            let mut got = 0usize;
            ReadProcessMemory(h, at as *const _, out, n, &mut got) != 0 && got == n
        };
        let mut pbi = [0usize; 6];
        let mut len = 0u32;
        let ok = NtQueryInformationProcess(
            h,
            ProcessBasicInformation,
            pbi.as_mut_ptr().cast(),
            std::mem::size_of_val(&pbi) as u32,
            &mut len,
        ) >= 0;
        let mut params = 0usize;
        let mut length = 0u32;
        let mut group = 0u32;
        let found = ok
            && pbi[1] != 0
            && read(pbi[1] + PARAMS_AT, (&mut params as *mut usize).cast(), 8)
            && params != 0
            && read(params + 4, (&mut length as *mut u32).cast(), 4)
            && length as usize >= GROUP_AT + 4
            && read(params + GROUP_AT, (&mut group as *mut u32).cast(), 4);
        CloseHandle(h);
        (found && group != 0).then_some(group)
    }
}

/// Whether `pid` is attached to this process's console (`GetConsoleProcessList`): console
/// control events reach only processes of the sender's console.
pub fn shares_console(pid: u32) -> bool {
    use windows_sys::Win32::System::Console::GetConsoleProcessList;
    let mut list = vec![0u32; 64];
    loop {
        // SAFETY: the buffer holds `list.len()` u32s.
        let n = unsafe { GetConsoleProcessList(list.as_mut_ptr(), list.len() as u32) } as usize;
        if n == 0 {
            return false; // no console
        }
        if n <= list.len() {
            return list[..n].contains(&pid);
        }
        list.resize(n + 16, 0);
    }
}

/// Sends `CTRL_BREAK_EVENT` to `pid` when that is safe and can arrive: `pid` leads its own
/// process group (started with `CREATE_NEW_PROCESS_GROUP`, as `pid-guard run` starts its
/// command; its group id is its pid) and shares this process's console. Anything else is
/// refused (returns false): for an id that is not a group, the console delivers the event to
/// every process attached to it, this one included; and an event cannot cross to another
/// console without `FreeConsole`/`AttachConsole`, which would take this process's own console
/// (and a Node process's stdio) away from it. Node maps the event to `SIGBREAK`.
pub fn ctrl_break(pid: u32) -> bool {
    use windows_sys::Win32::System::Console::{GenerateConsoleCtrlEvent, CTRL_BREAK_EVENT};
    if process_group_id(pid) != Some(pid) || !shares_console(pid) {
        return false;
    }
    // SAFETY: plain call; the group id is a verified group leader of our console.
    unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pid) != 0 }
}

/// The command `pid-guard run` starts on Windows, where there is no exec: in its own process
/// group (`CREATE_NEW_PROCESS_GROUP`, so it can be sent CTRL_BREAK alone, as a group leader)
/// and in a job object with `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`: the job handle is the
/// wrapper's, so when the wrapper ends in any way (TerminateProcess included) the command and
/// everything it started die with it, and the lock the wrapper holds and the command go
/// together. A process the command starts in its first microseconds, before it is assigned to
/// the job, escapes it (std has no suspended start).
pub struct JobChild {
    child: std::process::Child,
    job: windows_sys::Win32::Foundation::HANDLE,
}

/// The pid of the command the Ctrl-C forwarder sends to (0: none).
static FORWARD_TO: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl JobChild {
    pub fn spawn(command: &[std::ffi::OsString]) -> io::Result<JobChild> {
        use std::os::windows::io::AsRawHandle;
        use std::os::windows::process::CommandExt;
        use windows_sys::Win32::System::JobObjects::{
            AssignProcessToJobObject, CreateJobObjectW, JobObjectExtendedLimitInformation,
            SetInformationJobObject, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
            JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        };
        use windows_sys::Win32::System::Threading::CREATE_NEW_PROCESS_GROUP;
        let Some((program, args)) = command.split_first() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "no command"));
        };
        // SAFETY: documented calls with valid arguments; the job handle is owned by the result
        // (closed on drop) or closed here on failure.
        let job = unsafe {
            let job = CreateJobObjectW(std::ptr::null(), std::ptr::null());
            if job.is_null() {
                return Err(io::Error::last_os_error());
            }
            let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
            info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            if SetInformationJobObject(
                job,
                JobObjectExtendedLimitInformation,
                (&info as *const JOBOBJECT_EXTENDED_LIMIT_INFORMATION).cast(),
                std::mem::size_of_val(&info) as u32,
            ) == 0
            {
                let e = io::Error::last_os_error();
                CloseHandle(job);
                return Err(e);
            }
            job
        };
        let child = match std::process::Command::new(program)
            .args(args)
            .creation_flags(CREATE_NEW_PROCESS_GROUP)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                // SAFETY: our own job handle, closed once.
                unsafe { CloseHandle(job) };
                return Err(e);
            }
        };
        let mut me = JobChild { child, job };
        // SAFETY: both handles are open; a failure (a job the wrapper itself is in that
        // forbids nesting, before Windows 8) leaves the command outside the job, running.
        if unsafe { AssignProcessToJobObject(me.job, me.child.as_raw_handle() as _) } == 0 {
            let e = io::Error::last_os_error();
            let _ = me.child.kill();
            let _ = me.child.wait();
            return Err(e);
        }
        Ok(me)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Forwards this console's Ctrl-C to the command as CTRL_BREAK until the command ends:
    /// a process started with `CREATE_NEW_PROCESS_GROUP` has Ctrl-C turned off, and
    /// CTRL_C_EVENT cannot be sent to a group. A Ctrl-Break typed at the console, and the
    /// console closing, reach the command directly (they go to every process of the console),
    /// so the wrapper only survives them to wait for the command: it never doubles them.
    pub fn forward_ctrl_c(&self) {
        use windows_sys::Win32::System::Console::{
            GenerateConsoleCtrlEvent, SetConsoleCtrlHandler, CTRL_BREAK_EVENT, CTRL_C_EVENT,
        };
        unsafe extern "system" fn on(ev: u32) -> windows_sys::core::BOOL {
            let pid = FORWARD_TO.load(std::sync::atomic::Ordering::SeqCst);
            if pid == 0 {
                return 0; // no command (any more): the default handling
            }
            if ev == CTRL_C_EVENT {
                // SAFETY: pid leads its own group (we created it so) on our console.
                unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, pid) };
            }
            1
        }
        FORWARD_TO.store(self.pid(), std::sync::atomic::Ordering::SeqCst);
        // SAFETY: installing a handler function that lives for the whole process.
        unsafe { SetConsoleCtrlHandler(Some(on), 1) };
    }

    /// Waits for the command; its exit code (an NTSTATUS such as 0xC000013A for a process
    /// that died of Ctrl-C comes through as that code, truncated to i32).
    pub fn wait(&mut self) -> io::Result<i32> {
        let status = self.child.wait()?;
        FORWARD_TO.store(0, std::sync::atomic::Ordering::SeqCst);
        Ok(status.code().unwrap_or(1))
    }
}

impl Drop for JobChild {
    fn drop(&mut self) {
        // SAFETY: our own job handle, closed once; closing it kills what is left in the job.
        unsafe { CloseHandle(self.job) };
    }
}

/// What [`LockWaiter::wait`] saw.
#[derive(Debug, PartialEq, Eq)]
pub enum LockWait {
    /// The lock byte could be had: the holder released it (or ended, crashed included).
    Free,
    TimedOut,
    Cancelled,
}

/// An event a cancel sets; closed on drop.
pub struct Event(windows_sys::Win32::Foundation::HANDLE);

// SAFETY: an event handle may be used from any thread.
unsafe impl Send for Event {}
unsafe impl Sync for Event {}

impl Event {
    pub fn new() -> io::Result<Event> {
        use windows_sys::Win32::System::Threading::CreateEventW;
        // SAFETY: a manual-reset, unset, unnamed event.
        let h = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
        if h.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(Event(h))
    }

    pub fn set(&self) {
        // SAFETY: our own open event handle.
        unsafe { windows_sys::Win32::System::Threading::SetEvent(self.0) };
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: our own handle, closed once.
        unsafe { CloseHandle(self.0) };
    }
}

/// A wait for the lock byte of a lock file to be free, woken by the kernel: a thread of its
/// own makes a blocking `LockFileEx` request on a handle of its own, which the kernel grants
/// when the holder's lock goes (a release, a close, the holder's end, crash included). The
/// thread drops the lock at once and sets an event; [`LockWaiter::wait`] waits for that event,
/// the caller's cancel event and its deadline together, with no polling. (An overlapped
/// `LockFileEx` would need no thread, but Wine 8 does not implement waiting for one: it reports
/// the lock granted while another handle holds it, measured.) The exclusive lock is asked for:
/// granted only when nobody holds the byte.
///
/// While the thread holds the byte, for the microseconds between the grant and its unlock, a
/// non-blocking attempt by another process fails as if a contender had won and released. A
/// waiter that gives up (deadline, cancel) cancels the request (`CancelSynchronousIo`); where
/// that cannot stop it (Wine), the thread stays blocked until the holder releases, then
/// unlocks and ends.
pub struct LockWaiter {
    done: std::sync::Arc<Event>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LockWaiter {
    pub fn start(lock: &std::path::Path) -> io::Result<LockWaiter> {
        use std::os::windows::fs::OpenOptionsExt;
        use std::os::windows::io::AsRawHandle;
        use windows_sys::Win32::Storage::FileSystem::{
            LockFileEx, UnlockFileEx, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
            LOCKFILE_EXCLUSIVE_LOCK,
        };
        use windows_sys::Win32::System::IO::OVERLAPPED;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
            .open(lock)?;
        let done = std::sync::Arc::new(Event::new()?);
        let set = done.clone();
        let thread = std::thread::Builder::new()
            .name("pid-guard-lockwait".into())
            .spawn(move || {
                let h = f.as_raw_handle() as windows_sys::Win32::Foundation::HANDLE;
                // SAFETY: a synchronous handle owned by this thread; `ov` lives across the call.
                unsafe {
                    let mut ov: OVERLAPPED = std::mem::zeroed();
                    (
                        ov.Anonymous.Anonymous.Offset,
                        ov.Anonymous.Anonymous.OffsetHigh,
                    ) = crate::flock::LOCK_BYTE;
                    if LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, &mut ov) != 0 {
                        UnlockFileEx(h, 0, 1, 0, &mut ov);
                    }
                }
                drop(f);
                set.set();
            })?;
        Ok(LockWaiter {
            done,
            thread: Some(thread),
        })
    }

    /// Free once the byte was free (the request finished, granted or failed: the caller's
    /// attempt tells which), else TimedOut after `timeout` or Cancelled when `cancel` is set.
    pub fn wait(&self, timeout: Option<std::time::Duration>, cancel: Option<&Event>) -> LockWait {
        use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
        use windows_sys::Win32::System::Threading::{WaitForMultipleObjects, INFINITE};
        let handles = [self.done.0, cancel.map_or(std::ptr::null_mut(), |c| c.0)];
        let n = if cancel.is_some() { 2 } else { 1 };
        let ms = timeout.map_or(INFINITE, |t| {
            t.as_millis().min(u128::from(INFINITE - 1)) as u32
        });
        // SAFETY: `n` valid event handles, alive for the call.
        match unsafe { WaitForMultipleObjects(n, handles.as_ptr(), 0, ms) } {
            WAIT_OBJECT_0 => LockWait::Free,
            w if w == WAIT_OBJECT_0 + 1 => LockWait::Cancelled,
            _ => LockWait::TimedOut,
        }
    }

    /// Whether the request has finished (the thread set its event).
    pub fn finished(&self) -> bool {
        self.wait(Some(std::time::Duration::ZERO), None) == LockWait::Free
    }
}

impl Drop for LockWaiter {
    fn drop(&mut self) {
        use std::os::windows::io::AsRawHandle;
        let Some(t) = self.thread.take() else { return };
        if self.finished() {
            let _ = t.join();
            return;
        }
        // SAFETY: the thread's handle is open while `t` lives; cancelling its blocking
        // request makes LockFileEx fail, and the thread ends. If it cannot be cancelled it is
        // left to end by itself (detached).
        unsafe {
            windows_sys::Win32::System::IO::CancelSynchronousIo(t.as_raw_handle() as _);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_time_is_ours_to_the_millisecond() {
        assert_eq!(filetime_to_unix_ms(116_444_736_000_000_000), Some(0));
        assert_eq!(
            filetime_to_unix_ms(116_444_736_000_000_000 + 12_345 * 10_000 + 9_999),
            Some(12_345)
        );
        assert_eq!(filetime_to_unix_ms(5), None);
        let me = filetime_to_unix_ms(creation_time(std::process::id()).unwrap()).unwrap();
        let now = crate::record::now_ms();
        assert!(me <= now && me + 600_000 > now, "{me} vs {now}");
    }

    #[test]
    fn ports_are_in_network_order() {
        // Port 8080 = 0x1f90, stored as bytes 1f 90 in memory: 0x901f read as a little-endian u32.
        assert_eq!(net_port(0x901f), 8080);
        assert_eq!(net_port(0x5000), 80);
    }

    #[test]
    fn lists_our_own_listeners_v4_and_v6() {
        let l4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p4 = l4.local_addr().unwrap().port();
        let l6 = std::net::TcpListener::bind("[::1]:0").ok();
        let all = tcp_listeners().unwrap();
        let me = std::process::id();
        // Wine's table names no owner (pid 0) for any socket: its gap, not ours.
        let me_or_unknown = |pid: u32| pid == me || (crate::test_child::under_wine() && pid == 0);
        assert!(
            all.iter().any(|l| l.port == p4
                && me_or_unknown(l.pid)
                && l.address.to_string() == "127.0.0.1"),
            "{all:?}"
        );
        if let Some(l6) = &l6 {
            let p6 = l6.local_addr().unwrap().port();
            assert!(
                all.iter().any(|l| l.port == p6
                    && me_or_unknown(l.pid)
                    && l.address.to_string() == "::1"),
                "{all:?}"
            );
        }
        drop(l4);
        assert!(!tcp_listeners().unwrap().iter().any(|l| l.port == p4));
    }

    /// The wait is the kernel's: held → TimedOut, cancel event → Cancelled, a release in
    /// another thread (another handle) → Free at once, with no polling.
    #[test]
    fn lock_waiter_wakes_on_release_times_out_and_cancels() {
        use std::time::{Duration, Instant};
        let d = std::env::temp_dir().join(format!("pg-sys-win-wait-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let opts = crate::guard::AcquireOptions {
            dir: Some(&d),
            mode: crate::mode::Mode::Exclusive,
            meta: serde_json::json!({}),
        };
        let mut g = crate::guard::acquire("w", &opts).unwrap();
        let lock = g.lock_path().to_owned();
        let w = LockWaiter::start(&lock).unwrap();
        let t0 = Instant::now();
        assert_eq!(
            w.wait(Some(Duration::from_millis(200)), None),
            LockWait::TimedOut
        );
        assert!(t0.elapsed() >= Duration::from_millis(150));
        let ev = std::sync::Arc::new(Event::new().unwrap());
        let e2 = ev.clone();
        let setter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            e2.set();
        });
        assert_eq!(w.wait(None, Some(&ev)), LockWait::Cancelled);
        setter.join().unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            g.release().unwrap();
        });
        let t1 = Instant::now();
        assert_eq!(w.wait(Some(Duration::from_secs(20)), None), LockWait::Free);
        assert!(t1.elapsed() < Duration::from_secs(10), "{:?}", t1.elapsed());
        releaser.join().unwrap();
        drop(w);
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A file this process creates is ours, read from its security descriptor, by handle and
    /// by path, and so is the directory it is in; the account is named for messages.
    #[test]
    fn a_file_we_create_is_ours() {
        let d = std::env::temp_dir().join(format!("pg-sys-win-owner-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let a = d.join("a");
        std::fs::write(&a, "x").unwrap();
        let f = std::fs::File::open(&a).unwrap();
        assert_eq!(owner_of(&f).unwrap(), Owner::Ours);
        assert_eq!(owner_at(&a, false).unwrap(), Owner::Ours);
        assert_eq!(owner_at(&d, false).unwrap(), Owner::Ours);
        let me = current_user();
        assert!(me.contains("S-1-5-"), "{me}");
        drop(f);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Files and directories of another user are refused with their owner named: a lock file
    /// (EUNSAFEFILE, never written through), a pid file (never removed) and a guard directory
    /// (EUNSAFEDIR). Only Wine lets this machine make such files without a second Windows
    /// account: `npm run test:windows`, run as root, creates them on the Linux side owned by
    /// uid 65534, which Wine shows as owned by ANONYMOUS LOGON (S-1-5-7), and names their
    /// folder in PID_GUARD_FOREIGN_FIXTURE. Elsewhere this says it is skipped.
    #[test]
    fn another_users_files_are_refused_naming_the_owner() {
        let Some(fx) = std::env::var_os("PID_GUARD_FOREIGN_FIXTURE") else {
            eprintln!("skipped: no PID_GUARD_FOREIGN_FIXTURE (files of another user)");
            return;
        };
        let fx = std::path::PathBuf::from(fx);
        assert!(matches!(
            owner_at(&fx.join("svc.lock"), false).unwrap(),
            Owner::Other(_)
        ));
        let opts = crate::guard::AcquireOptions {
            dir: Some(&fx),
            mode: crate::mode::Mode::Exclusive,
            meta: serde_json::json!({}),
        };
        let Err(e) = crate::guard::acquire("svc", &opts) else {
            panic!("a lock file of another user was written through");
        };
        assert_eq!(e.code, crate::error::Code::UnsafeFile, "{e:?}");
        assert!(
            e.message.contains("svc.lock") && e.message.contains("S-1-5-7"),
            "{}",
            e.message
        );
        assert!(e.message.contains(&current_user()), "{}", e.message);
        assert_eq!(std::fs::read(fx.join("svc.lock")).unwrap(), b"theirs\n");
        let (d, _) = crate::dirfd::Dir::open(&fx, false).unwrap();
        let e = d.remove_ours(std::path::Path::new("svc.pid")).unwrap_err();
        let why = &crate::dirfd::untrusted_of(&e).expect("untrusted").why;
        assert!(why.contains("S-1-5-7"), "{why}");
        assert!(fx.join("svc.pid").exists());
        let e = crate::dir::prepare(Some(&fx.join("theirs"))).unwrap_err();
        assert_eq!(e.code, crate::error::Code::UnsafeDir, "{e:?}");
        assert!(e.message.contains("S-1-5-7"), "{}", e.message);
    }

    #[test]
    fn a_local_temp_directory_is_not_a_network_volume() {
        assert_eq!(is_remote_volume(&std::env::temp_dir()), Some(false));
    }

    #[test]
    fn file_info_counts_hard_links() {
        let d = std::env::temp_dir().join(format!("pg-sys-win-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let a = d.join("a");
        std::fs::write(&a, "x").unwrap();
        let f = std::fs::File::open(&a).unwrap();
        assert_eq!(file_info(&f).unwrap().links, 1);
        std::fs::hard_link(&a, d.join("b")).unwrap();
        let i = file_info(&f).unwrap();
        assert_eq!(i.links, 2);
        assert!(!i.directory);
        drop(f);
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Sets `path`'s DACL from SDDL (`D:...`; the owner is kept), as another tool or an
    /// administrator with icacls would.
    fn set_dacl(path: &std::path::Path, sddl: &str) {
        use windows_sys::Win32::Foundation::LocalFree;
        use windows_sys::Win32::Security::Authorization::{
            ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
        };
        use windows_sys::Win32::Security::{SetFileSecurityW, DACL_SECURITY_INFORMATION};
        let w: Vec<u16> = sddl.encode_utf16().chain(Some(0)).collect();
        let mut sd = std::ptr::null_mut();
        // SAFETY: test helper; documented calls with valid, NUL-terminated strings.
        unsafe {
            assert_ne!(
                ConvertStringSecurityDescriptorToSecurityDescriptorW(
                    w.as_ptr(),
                    SDDL_REVISION_1,
                    &mut sd,
                    std::ptr::null_mut()
                ),
                0,
                "{sddl}: {}",
                io::Error::last_os_error()
            );
            let ok = SetFileSecurityW(wide_path(path).as_ptr(), DACL_SECURITY_INFORMATION, sd);
            let e = io::Error::last_os_error();
            LocalFree(sd as _);
            assert_ne!(ok, 0, "SetFileSecurityW {}: {e}", path.display());
        }
    }

    fn my_sid() -> String {
        let me = current_user();
        let start = me.find("S-1-").unwrap();
        me[start..].trim_end_matches(')').to_string()
    }

    fn fresh_dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("pg-sys-win-acl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn opts(dir: &std::path::Path, mode: crate::mode::Mode) -> crate::guard::AcquireOptions<'_> {
        crate::guard::AcquireOptions {
            dir: Some(dir),
            mode,
            meta: serde_json::json!({}),
        }
    }

    fn writers(p: &std::path::Path, rights: u32) -> Vec<String> {
        others_who_may_write(&open_entry(p, false).unwrap(), rights).unwrap()
    }

    /// Everything pid-guard creates is private (Windows' 600/700), even in a directory whose
    /// inherited permissions let Everyone write: the lock file, the pid file, `N.shared` and
    /// its files, and its default-style directory.
    #[test]
    fn what_pid_guard_creates_is_private_to_this_user() {
        let d = fresh_dir("private");
        // Inheritable "Everyone may do anything" on the parent, as a careless share would.
        set_dacl(&d, &format!("D:(A;OICI;FA;;;{})(A;OICI;FA;;;WD)", my_sid()));
        assert!(writers(&d, FILE_WRITE_RIGHTS)
            .iter()
            .any(|w| w.contains("S-1-1-0")));
        let e = crate::dir::prepare(Some(&d)).expect_err("Everyone may delete entries in it");
        assert_eq!(e.code, crate::error::Code::UnsafeDir, "{e:?}");
        // A directory pid-guard creates in it (as its default one) is private all the same.
        let made = d.join("made");
        crate::dir::prepare(Some(&made)).unwrap();
        assert_eq!(writers(&made, PRIVATE_DIR_RIGHTS), Vec::<String>::new());
        // Our own directory, created private inside it, is accepted.
        let own = d.join("own");
        create_dir_private(&own).unwrap();
        assert_eq!(writers(&own, PRIVATE_DIR_RIGHTS), Vec::<String>::new());
        let mut g =
            crate::guard::acquire("svc", &opts(&own, crate::mode::Mode::Exclusive)).unwrap();
        for f in [g.lock_path().to_owned(), g.pid_path().to_owned()] {
            assert_eq!(
                writers(&f, FILE_WRITE_RIGHTS),
                Vec::<String>::new(),
                "{}",
                f.display()
            );
        }
        g.release().unwrap();
        let mut s = crate::guard::acquire("sh", &opts(&own, crate::mode::Mode::Shared)).unwrap();
        let shared = own.join("sh.shared");
        assert_eq!(writers(&shared, PRIVATE_DIR_RIGHTS), Vec::<String>::new());
        for e in std::fs::read_dir(&shared).unwrap() {
            let p = e.unwrap().path();
            assert_eq!(
                writers(&p, FILE_WRITE_RIGHTS),
                Vec::<String>::new(),
                "{}",
                p.display()
            );
        }
        s.release().unwrap();
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A lock file someone made writable by Everyone is refused (EUNSAFEFILE, naming the
    /// account), never written through; an inherit-only entry grants nothing and is ignored.
    #[test]
    fn a_lock_file_others_may_write_is_refused_naming_them() {
        let d = fresh_dir("file");
        let mut g = crate::guard::acquire("svc", &opts(&d, crate::mode::Mode::Exclusive)).unwrap();
        let lock = g.lock_path().to_owned();
        g.release().unwrap();
        set_dacl(&lock, &format!("D:P(A;;FA;;;{})(A;;FRFW;;;WD)", my_sid()));
        let before = std::fs::read(&lock).unwrap();
        let Err(e) = crate::guard::acquire("svc", &opts(&d, crate::mode::Mode::Exclusive)) else {
            panic!("a lock file Everyone may write was used");
        };
        assert_eq!(e.code, crate::error::Code::UnsafeFile, "{e:?}");
        assert!(
            e.message.contains("svc.lock") && e.message.contains("S-1-1-0"),
            "{}",
            e.message
        );
        assert_eq!(std::fs::read(&lock).unwrap(), before);
        // Read access for Everyone is fine (mode 644), and so is an inherit-only entry.
        set_dacl(
            &lock,
            &format!("D:P(A;;FA;;;{})(A;;FR;;;WD)(A;IO;FA;;;WD)", my_sid()),
        );
        assert_eq!(writers(&lock, FILE_WRITE_RIGHTS), Vec::<String>::new());
        crate::guard::acquire("svc", &opts(&d, crate::mode::Mode::Exclusive))
            .unwrap()
            .release()
            .unwrap();
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A guard directory: others may add entries there (as in a sticky /tmp, every file is
    /// owner-checked and private), but not delete or rename them (EUNSAFEDIR, naming them);
    /// `N.shared` must be private outright.
    #[test]
    fn a_guard_directory_others_may_empty_is_refused() {
        let d = fresh_dir("dir");
        let me = my_sid();
        // FILE_ADD_FILE | FILE_ADD_SUBDIRECTORY | traverse/read for Everyone: accepted. Wine
        // keeps a DACL as Unix mode bits where the filesystem has no xattrs (here), so this
        // partial grant reads back as full control there: checked on Windows only.
        if std::env::var_os("PID_GUARD_WINE").is_none() {
            set_dacl(&d, &format!("D:P(A;OICI;FA;;;{me})(A;;0x1200af;;;WD)"));
            crate::guard::acquire("svc", &opts(&d, crate::mode::Mode::Exclusive))
                .unwrap()
                .release()
                .unwrap();
        } else {
            eprintln!("Wine gap: a partial DACL grant reads back as full (kept as mode bits)");
        }
        // FILE_DELETE_CHILD for Everyone: refused, before anything is written.
        set_dacl(&d, &format!("D:P(A;OICI;FA;;;{me})(A;;0x1200ef;;;WD)"));
        let Err(e) = crate::guard::acquire("svc2", &opts(&d, crate::mode::Mode::Exclusive)) else {
            panic!("a directory Everyone may empty was used");
        };
        assert_eq!(e.code, crate::error::Code::UnsafeDir, "{e:?}");
        assert!(e.message.contains("S-1-1-0"), "{}", e.message);
        assert!(!d.join("svc2.lock").exists());
        // N.shared that Everyone may add to: refused.
        set_dacl(&d, &format!("D:P(A;OICI;FA;;;{me})"));
        let mut s = crate::guard::acquire("sh", &opts(&d, crate::mode::Mode::Shared)).unwrap();
        s.release().unwrap();
        set_dacl(
            &d.join("sh.shared"),
            &format!("D:P(A;OICI;FA;;;{me})(A;;0x1200af;;;WD)"),
        );
        let Err(e) = crate::guard::acquire("sh", &opts(&d, crate::mode::Mode::Shared)) else {
            panic!("an N.shared Everyone may add to was used");
        };
        assert_eq!(e.code, crate::error::Code::UnsafeDir, "{e:?}");
        assert!(e.message.contains("S-1-1-0"), "{}", e.message);
        let _ = std::fs::remove_dir_all(&d);
    }
}
