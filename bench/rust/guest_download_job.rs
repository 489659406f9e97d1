//! One guest-download job as the Rust code runs it (std only), shared by the witness
//! (`guest_download.rs`) and the subject `raceproof exec` drives (`guest_download_once.rs`).
//! A failed job is one word-separated line: "error OP ERRNO" (the system call family as raceproof
//! names its steps), or "error tar MESSAGE_WITH_UNDERSCORES".

use std::fs;
use std::io;
use std::path::Path;

use crate::tarport;

fn errno_name(code: i32) -> &'static str {
    match code {
        2 => "ENOENT",
        17 => "EEXIST",
        20 => "ENOTDIR",
        21 => "EISDIR",
        22 => "EINVAL",
        39 => "ENOTEMPTY",
        1 => "EPERM",
        13 => "EACCES",
        _ => "E?",
    }
}

fn kind(op: &str, e: &io::Error) -> String {
    format!("error {} {}", op, e.raw_os_error().map(errno_name).unwrap_or("other"))
}

pub fn job(variant: &str, target: &Path, archive: &[u8]) -> Option<String> {
    if variant == "pre-cleanup" {
        if let Err(e) = fs::remove_dir_all(target) {
            if e.kind() != io::ErrorKind::NotFound {
                let op = if e.raw_os_error() == Some(39) { "rmdir" } else { "remove_dir_all" };
                return Some(kind(op, &e));
            }
        }
    }
    if let Err(e) = fs::create_dir_all(target) {
        return Some(kind("mkdir", &e));
    }
    match tarport::unpack(archive, target) {
        Ok(()) => None,
        Err(tarport::Error::Os(op, e)) => Some(kind(op, &e)),
        Err(tarport::Error::Tar(m)) => Some(format!("error tar {}", m.replace(' ', "_"))),
    }
}
