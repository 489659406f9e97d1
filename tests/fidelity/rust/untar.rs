//! `untar ARCHIVE DST`: tar-rs 0.4.45 `Archive::unpack` (the std-only port in tarport.rs), for the
//! raceproof fidelity suite. Prints `ok`, `err <errno>` or `err tar <message>`.
#[path = "tarport.rs"]
mod tarport;

use std::fs;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let buf = fs::read(&args[1]).expect("read the archive");
    let _ = fs::symlink_metadata("/@@raceproof-begin");
    match tarport::unpack(&buf, Path::new(&args[2])) {
        Ok(()) => println!("ok"),
        Err(tarport::Error::Os(_, e)) => match e.raw_os_error() {
            Some(code) => println!("err {code}"),
            None => println!("err tar {e}"),
        },
        Err(tarport::Error::Tar(m)) => println!("err tar {m}"),
    }
}
