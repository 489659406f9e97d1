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
#[path = "guest_download_job.rs"]
mod gdjob;

use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::thread;

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
                gdjob::job(&variant, &target, &archive)
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
