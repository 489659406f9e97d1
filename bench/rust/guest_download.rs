//! guest-download with real threads (std only), the witness for raceproof's incident model.
//!
//! Usage: guest_download VARIANT RUNS BASE MANIFEST
//!   VARIANT  pre-cleanup (remove_dir_all, create_dir_all, unpack) or fixed (create_dir_all, unpack)
//!   BASE     a scratch directory: the scenario's "/" (rebuilt before every run)
//!   MANIFEST lines "M<TAB>mount<TAB>archive file", "D<TAB>initial dir", "F<TAB>expected file<TAB>hex"
//! One thread per mount, released together by a barrier. Prints, per failure kind, the number of
//! runs that showed it: "error <syscall> <ERRNO>" for a worker error (the system call family as
//! raceproof names its steps), "silent loss" / "entries lost" when expected files are missing at
//! the end without / with a worker error.
#[path = "../../tests/fidelity/rust/tarport.rs"]
mod tarport;
#[path = "guest_download_job.rs"]
mod gdjob;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::thread;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (variant, runs, base) = (args[1].clone(), args[2].parse::<usize>().unwrap(), PathBuf::from(&args[3]));
    let manifest = fs::read_to_string(&args[4]).unwrap();
    let (mut mounts, mut dirs, mut expect) = (Vec::new(), Vec::new(), Vec::new());
    for line in manifest.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "M" => mounts.push((base.join(&f[1][1..]), Arc::new(fs::read(f[2]).unwrap()))),
            "D" => dirs.push(base.join(&f[1][1..])),
            "F" => expect.push((base.join(&f[1][1..]), unhex(f[2]))),
            _ => {}
        }
    }
    let top = base.join("home");
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..runs {
        let _ = fs::remove_dir_all(&top);
        for d in &dirs {
            fs::create_dir_all(d).unwrap();
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
        let errors: Vec<String> = handles.into_iter().filter_map(|h| h.join().unwrap()).collect();
        let lost = expect.iter().any(|(p, data)| fs::read(p).map(|d| &d != data).unwrap_or(true));
        let mut kinds: Vec<String> = errors.clone();
        if lost {
            kinds.push(if errors.is_empty() { "silent loss".into() } else { "entries lost".into() });
        }
        kinds.sort();
        kinds.dedup();
        for k in kinds {
            *counts.entry(k).or_default() += 1;
        }
    }
    for (k, n) in counts {
        println!("{k}\t{n}");
    }
}
