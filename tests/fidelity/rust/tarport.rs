//! A faithful std-only port of tar-rs 0.4.45 `Archive::unpack` (alexcrichton/tar-rs commit 2349b49:
//! src/archive.rs `_unpack`, `next_entry`, `next_entry_raw`; src/entry.rs `unpack_in`, `unpack`,
//! `unpack_dir`, `ensure_dir_created`, `validate_inside_dst`), with its defaults (overwrite,
//! preserve_mtime, no permission/ownership preservation, mask 0, no xattrs). The `filetime` calls
//! are `utimensat` through a hand-declared libc binding. Errors carry the system call family that
//! failed (tar-rs wraps them in `TarError`; the kind and OS error are the same).
#![allow(dead_code)]
use std::borrow::Cow;
use std::ffi::{CString, OsStr};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

const BLOCK: usize = 512;

/// An error: the system call family that failed (as raceproof names its steps) and the OS error,
/// or an archive-level error.
#[derive(Debug)]
pub enum Error {
    Os(&'static str, io::Error),
    Tar(String),
}
fn tag(op: &'static str) -> impl Fn(io::Error) -> Error {
    move |e| Error::Os(op, e)
}
pub type Result<T> = std::result::Result<T, Error>;
fn other<T>(msg: &str) -> Result<T> {
    Err(Error::Tar(msg.to_string()))
}

#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}
extern "C" {
    fn utimensat(dirfd: i32, path: *const i8, times: *const Timespec, flags: i32) -> i32;
}
const AT_FDCWD: i32 = -100;
const AT_SYMLINK_NOFOLLOW: i32 = 0x100;

/// filetime::set_symlink_file_times
fn set_symlink_file_times(p: &Path, secs: i64) -> io::Result<()> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let t = [Timespec { tv_sec: secs, tv_nsec: 0 }, Timespec { tv_sec: secs, tv_nsec: 0 }];
    if unsafe { utimensat(AT_FDCWD, c.as_ptr(), t.as_ptr(), AT_SYMLINK_NOFOLLOW) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn truncate(b: &[u8]) -> &[u8] {
    match b.iter().position(|c| *c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}
fn octal(b: &[u8]) -> Result<u64> {
    let t = String::from_utf8_lossy(truncate(b)).trim().to_string();
    if t.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(&t, 8).or_else(|_| other("numeric field was not a number"))
}

struct Header([u8; BLOCK]);
impl Header {
    fn is_ustar(&self) -> bool {
        &self.0[257..263] == b"ustar\0" && &self.0[263..265] == b"00"
    }
    fn is_gnu(&self) -> bool {
        &self.0[257..263] == b"ustar " && &self.0[263..265] == b" \0"
    }
    fn kind(&self) -> u8 {
        self.0[156]
    }
    fn path_bytes(&self) -> Cow<'_, [u8]> {
        if self.is_ustar() {
            let (name, prefix) = (&self.0[0..100], &self.0[345..500]);
            if prefix[0] == 0 && !name.contains(&b'\\') {
                Cow::Borrowed(truncate(name))
            } else {
                let mut v = Vec::new();
                let p = truncate(prefix);
                if !p.is_empty() {
                    v.extend_from_slice(p);
                    v.push(b'/');
                }
                v.extend_from_slice(truncate(name));
                Cow::Owned(v)
            }
        } else {
            Cow::Borrowed(truncate(&self.0[0..100]))
        }
    }
    fn link_name_bytes(&self) -> Option<&[u8]> {
        if self.0[157] == 0 { None } else { Some(truncate(&self.0[157..257])) }
    }
}

struct Entry<'a> {
    header: Header,
    size: u64,
    data: &'a [u8], // what the stream still has of this entry's data (may be short)
    long_pathname: Option<Vec<u8>>,
    long_linkname: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

fn pax_value<'b>(pax: &'b [u8], key: &[u8]) -> Option<&'b [u8]> {
    let mut pos = 0;
    let mut found = None;
    while pos < pax.len() {
        let sp = pax[pos..].iter().position(|c| *c == b' ')? + pos;
        let len: usize = std::str::from_utf8(&pax[pos..sp]).ok()?.parse().ok()?;
        if len == 0 || pos + len > pax.len() {
            return found;
        }
        let rec = &pax[sp + 1..pos + len];
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        if let Some(eq) = rec.iter().position(|c| *c == b'=') {
            if &rec[..eq] == key && found.is_none() {
                found = Some(&rec[eq + 1..]);
            }
        }
        pos += len;
    }
    found
}

impl<'a> Entry<'a> {
    fn path_bytes(&self) -> Cow<'_, [u8]> {
        if let Some(b) = &self.long_pathname {
            return Cow::Borrowed(b.strip_suffix(b"\0").unwrap_or(b));
        }
        if let Some(p) = self.pax.as_deref().and_then(|p| pax_value(p, b"path")) {
            return Cow::Borrowed(p);
        }
        self.header.path_bytes()
    }
    fn link_name_bytes(&self) -> Option<Cow<'_, [u8]>> {
        if let Some(b) = &self.long_linkname {
            return Some(Cow::Borrowed(b.strip_suffix(b"\0").unwrap_or(b)));
        }
        if let Some(p) = self.pax.as_deref().and_then(|p| pax_value(p, b"linkpath")) {
            return Some(Cow::Borrowed(p));
        }
        self.header.link_name_bytes().map(Cow::Borrowed)
    }
}

struct Archive<'a> {
    buf: &'a [u8],
    next: usize,
}

impl<'a> Archive<'a> {
    fn next_entry_raw(&mut self, pax: Option<&[u8]>) -> Result<Option<Entry<'a>>> {
        // skip to the next header ("unexpected EOF during skip")
        if self.next > self.buf.len() {
            return other("unexpected EOF during skip");
        }
        let rest = &self.buf[self.next..];
        if rest.is_empty() {
            return Ok(None); // EOF: the end of the archive
        }
        if rest.len() < BLOCK {
            return other("failed to read entire block");
        }
        let mut h = [0u8; BLOCK];
        h.copy_from_slice(&rest[..BLOCK]);
        if h.iter().all(|b| *b == 0) {
            return Ok(None);
        }
        self.next += BLOCK;
        let sum: u64 = h[..148].iter().chain(&h[156..]).map(|b| *b as u64).sum::<u64>() + 8 * 32;
        if sum != octal(&h[148..156])? {
            return other("archive header checksum mismatch");
        }
        let mut size = octal(&h[124..136])?;
        if let Some(v) = pax.and_then(|p| pax_value(p, b"size")) {
            size = std::str::from_utf8(v).ok().and_then(|s| s.parse().ok()).unwrap_or(size);
        }
        let start = self.next.min(self.buf.len());
        let end = (self.next + size as usize).min(self.buf.len());
        let data = &self.buf[start..end];
        self.next += ((size as usize) + BLOCK - 1) & !(BLOCK - 1);
        Ok(Some(Entry { header: Header(h), size, data, long_pathname: None, long_linkname: None, pax: None }))
    }

    fn next_entry(&mut self) -> Result<Option<Entry<'a>>> {
        let (mut longname, mut longlink, mut pax): (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>) = (None, None, None);
        let mut processed = 0;
        loop {
            processed += 1;
            let e = match self.next_entry_raw(pax.as_deref())? {
                Some(e) => e,
                None if processed > 1 => return other("members found describing a future member but no future member found"),
                None => return Ok(None),
            };
            let recognized = e.header.is_gnu() || e.header.is_ustar();
            match e.header.kind() {
                b'L' if recognized => {
                    if longname.is_some() {
                        return other("two long name entries describing the same member");
                    }
                    longname = Some(e.data.to_vec());
                    continue;
                }
                b'K' if recognized => {
                    if longlink.is_some() {
                        return other("two long name entries describing the same member");
                    }
                    longlink = Some(e.data.to_vec());
                    continue;
                }
                b'x' if recognized => {
                    if pax.is_some() {
                        return other("two pax extensions entries describing the same member");
                    }
                    pax = Some(e.data.to_vec());
                    continue;
                }
                _ => {}
            }
            let mut e = e;
            e.long_pathname = longname;
            e.long_linkname = longlink;
            e.pax = pax;
            return Ok(Some(e));
        }
    }
}

fn bytes2path(b: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(b))
}

pub fn unpack(buf: &[u8], dst: &Path) -> Result<()> {
    if dst.symlink_metadata().is_err() {
        fs::create_dir_all(dst).map_err(tag("mkdir"))?;
    }
    let dst = &dst.canonicalize().unwrap_or(dst.to_path_buf());
    let mut ar = Archive { buf, next: 0 };
    let mut directories = Vec::new();
    while let Some(entry) = ar.next_entry()? {
        if entry.header.kind() == b'5' {
            directories.push(entry);
        } else {
            unpack_in(&entry, dst)?;
        }
    }
    directories.sort_by(|a, b| b.path_bytes().cmp(&a.path_bytes()));
    for dir in directories {
        unpack_in(&dir, dst)?;
    }
    Ok(())
}

fn unpack_in(e: &Entry, dst: &Path) -> Result<bool> {
    let mut file_dst = dst.to_path_buf();
    {
        let path = bytes2path(&e.path_bytes());
        for part in path.components() {
            match part {
                Component::Prefix(..) | Component::RootDir | Component::CurDir => continue,
                Component::ParentDir => return Ok(false),
                Component::Normal(part) => file_dst.push(part),
            }
        }
    }
    if *dst == *file_dst {
        return Ok(true);
    }
    let parent = match file_dst.parent() {
        Some(p) => p,
        None => return Ok(false),
    };
    ensure_dir_created(dst, parent)?;
    let canon_target = validate_inside_dst(dst, parent)?;
    unpack_entry(e, Some(&canon_target), &file_dst)?;
    Ok(true)
}

fn unpack_dir(dst: &Path) -> Result<()> {
    fs::create_dir(dst).or_else(|err| {
        if err.kind() == io::ErrorKind::AlreadyExists {
            let prev = fs::symlink_metadata(dst);
            if prev.map(|m| m.is_dir()).unwrap_or(false) {
                return Ok(());
            }
        }
        Err(err)
    })
    .map_err(tag("mkdir"))
}

fn set_perms(dst: &Path, f: Option<&fs::File>, mode: u32) -> Result<()> {
    let perm = fs::Permissions::from_mode(mode & 0o777);
    match f {
        Some(f) => f.set_permissions(perm).map_err(tag("fchmod")),
        None => fs::set_permissions(dst, perm).map_err(tag("chmod")),
    }
}

fn unpack_entry(e: &Entry, target_base: Option<&Path>, dst: &Path) -> Result<()> {
    let kind = e.header.kind();
    let mode = octal(&e.header.0[100..108]).ok().map(|m| m as u32);
    let mtime = octal(&e.header.0[136..148]).ok().map(|m| if m == 0 { 1 } else { m as i64 });
    if kind == b'5' {
        unpack_dir(dst)?;
        if let Some(mode) = mode {
            set_perms(dst, None, mode)?;
        }
        return Ok(());
    } else if kind == b'1' || kind == b'2' {
        let src = match e.link_name_bytes() {
            Some(name) => bytes2path(&name),
            None => return other("hard link listed but no link name found"),
        };
        if src.iter().count() == 0 {
            return other("symlink destination is empty");
        }
        if kind == b'1' {
            let link_src = match target_base {
                Some(p) => {
                    let link_src = p.join(&src);
                    validate_inside_dst(p, &link_src)?;
                    link_src
                }
                None => src,
            };
            fs::hard_link(&link_src, dst).map_err(tag("link"))?;
        } else {
            std::os::unix::fs::symlink(&src, dst).or_else(|err| {
                if err.kind() == io::ErrorKind::AlreadyExists {
                    fs::remove_file(dst).and_then(|()| std::os::unix::fs::symlink(&src, dst))
                } else {
                    Err(err)
                }
            })
            .map_err(tag("symlink"))?;
            if let Some(mtime) = mtime {
                set_symlink_file_times(dst, mtime).map_err(tag("utimes"))?;
            }
        }
        return Ok(());
    } else if matches!(kind, b'x' | b'g' | b'L' | b'K') {
        return Ok(());
    }
    if !e.header.is_ustar() && e.path_bytes().ends_with(b"/") {
        unpack_dir(dst)?;
        if let Some(mode) = mode {
            set_perms(dst, None, mode)?;
        }
        return Ok(());
    }
    fn open(dst: &Path) -> io::Result<fs::File> {
        OpenOptions::new().write(true).create_new(true).open(dst)
    }
    let mut f = open(dst).or_else(|err| {
        if err.kind() != io::ErrorKind::AlreadyExists {
            Err(err)
        } else {
            match fs::remove_file(dst) {
                Ok(()) => open(dst),
                Err(ref e) if e.kind() == io::ErrorKind::NotFound => open(dst),
                Err(e) => Err(e),
            }
        }
    })
    .map_err(tag("open"))?;
    // io::copy through its 8 KiB stack buffer
    for chunk in e.data.chunks(8192) {
        f.write_all(chunk).map_err(tag("write"))?;
    }
    if (e.data.len() as u64) != e.size {
        return other("failed to write entire file");
    }
    if let Some(mtime) = mtime {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime as u64);
        f.set_times(fs::FileTimes::new().set_accessed(t).set_modified(t)).map_err(tag("futimens"))?;
    }
    if let Some(mode) = mode {
        set_perms(dst, Some(&f), mode)?;
    }
    Ok(())
}

fn ensure_dir_created(dst: &Path, dir: &Path) -> Result<()> {
    let mut ancestor = dir;
    let mut dirs_to_create = Vec::new();
    while ancestor.symlink_metadata().is_err() {
        dirs_to_create.push(ancestor);
        if let Some(parent) = ancestor.parent() {
            ancestor = parent;
        } else {
            break;
        }
    }
    for ancestor in dirs_to_create.into_iter().rev() {
        if let Some(parent) = ancestor.parent() {
            validate_inside_dst(dst, parent)?;
        }
        fs::create_dir_all(ancestor).map_err(tag("mkdir"))?;
    }
    Ok(())
}

fn validate_inside_dst(dst: &Path, file_dst: &Path) -> Result<PathBuf> {
    let canon_parent = file_dst.canonicalize().map_err(tag("realpath"))?;
    let canon_target = dst.canonicalize().map_err(tag("realpath"))?;
    if !canon_parent.starts_with(&canon_target) {
        return other("trying to unpack outside of destination path");
    }
    Ok(canon_target)
}

