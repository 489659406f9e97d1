//! One run of guest-download (std only, real threads), the subject `raceproof exec` drives.
//!
//! Usage: guest_download_once VARIANT MANIFEST
//!   VARIANT  pre-cleanup (remove_dir_all, create_dir_all, unpack) or fixed (create_dir_all, unpack)
//!   MANIFEST lines "M<TAB>mount<TAB>archive file": one thread per mount, in manifest order
//! Unlike `guest_download.rs` (the witness, which rebuilds its tree and loops), it runs once on the
//! tree it finds: the driver builds the tree, and every file system call it makes inside the
//! mounts belongs to a worker thread. The archives are read before any thread starts. Prints one
//! line per job, in manifest order: "ok MOUNT" or "error OP ERRNO MOUNT"; exits 1 if a job failed.
#[path = "../../tests/fidelity/rust/tarport.rs"]
mod tarport;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::thread;

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

fn job(variant: &str, target: &Path, archive: &[u8]) -> Option<String> {
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 || (args[1] != "fixed" && args[1] != "pre-cleanup") {
        eprintln!("usage: guest_download_once fixed|pre-cleanup MANIFEST");
        std::process::exit(2);
    }
    let variant = args[1].clone();
    let manifest = fs::read_to_string(&args[2]).expect("manifest");
    let mut mounts: Vec<(PathBuf, Arc<Vec<u8>>)> = Vec::new();
    for line in manifest.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() == 3 && f[0] == "M" {
            mounts.push((PathBuf::from(f[1]), Arc::new(fs::read(f[2]).expect("archive"))));
        }
    }
    let barrier = Arc::new(Barrier::new(mounts.len()));
    let handles: Vec<_> = mounts
        .iter()
        .map(|(target, archive)| {
            let (target, archive, barrier, variant) = (target.clone(), archive.clone(), barrier.clone(), variant.clone());
            thread::spawn(move || {
                barrier.wait();
                job(&variant, &target, &archive)
            })
        })
        .collect();
    let mut failed = false;
    for ((target, _), h) in mounts.iter().zip(handles) {
        match h.join().unwrap() {
            None => println!("ok {}", target.display()),
            Some(e) => {
                failed = true;
                println!("{} {}", e, target.display());
            }
        }
    }
    std::process::exit(if failed { 1 } else { 0 });
}
