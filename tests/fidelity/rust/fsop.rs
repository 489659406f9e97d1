//! One Rust std filesystem operation, for the raceproof fidelity suite (run under strace).
//! Usage: fsop OP PATH  with OP in remove_dir_all, create_dir_all, canonicalize, symlink_metadata.
//! Prints one line: `ok` (or `ok <value>`) or `err <errno>`.
use std::fs;
use std::io;

fn report<T>(r: io::Result<T>, show: impl Fn(T) -> String) {
    match r {
        Ok(v) => println!("ok{}", show(v)),
        Err(e) => println!("err {}", e.raw_os_error().map(|c| c.to_string()).unwrap_or_else(|| format!("{:?}", e.kind()))),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (op, path) = (args[1].as_str(), args[2].as_str());
    let _ = fs::symlink_metadata("/@@raceproof-begin");
    match op {
        "remove_dir_all" => report(fs::remove_dir_all(path), |_| String::new()),
        "create_dir_all" => report(fs::create_dir_all(path), |_| String::new()),
        "canonicalize" => report(fs::canonicalize(path), |p| format!(" {}", p.display())),
        "symlink_metadata" => report(fs::symlink_metadata(path), |m| {
            let t = m.file_type();
            format!(" {}", if t.is_symlink() { "link" } else if t.is_dir() { "dir" } else { "file" })
        }),
        _ => panic!("unknown op {op}"),
    }
}
