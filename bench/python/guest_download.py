"""guest-download in Python, the second subject of ``raceproof exec`` (the incident, unmodified Python).

Usage: python guest_download.py VARIANT MANIFEST (the protocol of ``bench/rust/guest_download_once.rs``)
  VARIANT  pre-cleanup (shutil.rmtree, os.makedirs(exist_ok=True), extractall) or fixed (no rmtree)
  MANIFEST lines "M<TAB>mount<TAB>archive file"
One job per mount in a ThreadPoolExecutor; prints "ok MOUNT" or "error OP ERRNO MOUNT" per job, in
manifest order, and exits 1 if a job failed. Archives are read before the pool starts.
"""

import errno
import io
import os
import shutil
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor


def job(variant: str, target: str, archive: bytes) -> str | None:
    try:
        if variant == "pre-cleanup":
            try:
                shutil.rmtree(target)
            except FileNotFoundError:
                pass
        os.makedirs(target, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
            tf.extractall(target, filter="data")
    except OSError as exc:
        name = errno.errorcode.get(exc.errno or 0, "E?")
        return f"error {type(exc).__name__} {name}"
    except tarfile.TarError as exc:
        return f"error tar {type(exc).__name__}"
    return None


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("fixed", "pre-cleanup"):
        print("usage: guest_download.py fixed|pre-cleanup MANIFEST", file=sys.stderr)
        return 2
    variant = sys.argv[1]
    jobs = []
    with open(sys.argv[2]) as f:
        for line in f:
            kind, mount, path = line.rstrip("\n").split("\t")
            if kind == "M":
                with open(path, "rb") as a:
                    jobs.append((mount, a.read()))
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(job, variant, mount, data) for mount, data in jobs]
        results = [f.result() for f in futures]
    for (mount, _), err in zip(jobs, results, strict=True):
        print(f"ok {mount}" if err is None else f"{err} {mount}")
    return 1 if any(results) else 0


if __name__ == "__main__":
    sys.exit(main())
