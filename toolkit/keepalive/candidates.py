"""The keep-alive cleanup candidates (SEMANTICS-AND-FAULTS.md §2.3), written as the Rust would be.

Each phase is ``async def phase(fs, job, pipeline)``; every filesystem call is a Rust std call the
models already have (``remove_dir_all``, ``create_dir_all``, ``Archive::unpack``) or one system
call (``lstat``, ``readdir``, ``unlink``, ``renameat2``). ``job.mounts`` is the whole configuration.

- **A** ``barrier``: each worker empties its own mount root, skipping nested mount roots (it walks
  into the spine directories that lead to them and removes everything else; a file or symlink
  where a spine directory belongs is unlinked, never followed), never removing a root itself; all
  workers meet at a barrier; then each extracts (``create_dir_all`` + unpack, no deletes).
- **B** ``ordered``: a mount's worker waits until its parent mount's worker finished (an event),
  then ``remove_dir_all(root)`` (NotFound ignored), ``create_dir_all`` and unpack.
- **C** ``staged``: ordered like B; extracts into ``.NAME.stage`` next to the root, publishes with
  ``renameat2(RENAME_NOREPLACE)`` or, over an existing root, ``RENAME_EXCHANGE``, then removes the
  old tree (now at the stage name). Children publish into the new parent tree.
- **D** ``manifest``: fully parallel; each worker extracts with overwrite, then unlinks what its
  previous extraction wrote (a manifest in ``STATE_DIR``, outside every root) and this one did not,
  never an ancestor of another mount's root, and replaces the manifest (temp file + rename).
"""

from __future__ import annotations

import errno as E
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from raceproof.fs.base import join, parent_of
from raceproof.keepalive.pipeline import STATE_DIR, KeepalivePipeline, nested_roots, parent_mount
from raceproof.models import tar
from raceproof.models.guest_download import Job, download
from raceproof.models.rust_fs import create_dir_all, remove_dir_all
from raceproof.sfs import SchedFS

Phase = Callable[[SchedFS, Job, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Candidate:
    name: str
    title: str
    phases: tuple[Phase, ...]
    summary: str
    pseudocode: str
    preconditions: tuple[str, ...]


async def _extract(fs: SchedFS, job: Job, pipeline: Any) -> list[str]:
    """``create_dir_all(root)``, download, ``Archive::unpack(root)``: no deletes."""
    await create_dir_all(fs, job.root)
    data = await download(fs, job, pipeline)
    return await tar.unpack(fs, job.root, data)


# A: selective clean, barrier, extract -----------------------------------------------------------

async def clean_mount(fs: SchedFS, job: Job, pipeline: Any) -> None:
    """Empty `job.root` except the nested mount roots (their own workers empty them)."""
    root = job.root
    try:  # O_NOFOLLOW on every component: a root under a stale symlink is not ours to walk
        st = await fs.lstat(root, nofollow_ancestors=True)
    except OSError as exc:
        if exc.errno in (E.ENOENT, E.ENOTDIR, E.ELOOP):
            return  # absent, or below a non-directory its parent's worker removes
        raise
    if st.kind != "dir":
        await fs.unlink(root, nofollow_ancestors=True)  # a stale file or symlink where the root goes
        return
    await empty_dir(fs, root, nested_roots(root, job.mounts))


async def empty_dir(fs: SchedFS, directory: str, keep: set[str]) -> None:
    for name, kind in await fs.readdir(directory, nofollow_ancestors=True):
        child = join(directory, name)
        if child in keep:
            continue  # a nested mount root
        if any(k.startswith(child + "/") for k in keep):  # a spine directory towards nested roots
            if kind == "dir":
                await empty_dir(fs, child, keep)
            else:
                await fs.unlink(child, nofollow_ancestors=True)
            continue
        try:
            if kind == "dir":
                await remove_dir_all(fs, child)
            else:  # a file or a symlink (unlinked, never followed); remove_dir_all of a file is ENOTDIR
                await fs.unlink(child, nofollow_ancestors=True)
        except FileNotFoundError:
            pass


# B: parent before child -------------------------------------------------------------------------

async def _after_parent(fs: SchedFS, job: Job, pipeline: KeepalivePipeline,
                        work: Callable[[], Awaitable[list[str]]]) -> list[str]:
    """Wait for the parent mount's worker, run `work`, then release the children (even on error:
    a failed parent makes its children fail explicitly, never hang)."""
    parent = parent_mount(job.root, job.mounts)
    gen = pipeline.generation
    try:
        if parent is not None:
            await fs.wait_event(pipeline.done_event(parent))
            if (gen, parent) in pipeline.failed:
                raise OSError(E.ECANCELED, "the parent mount's job failed", job.root)
        return await work()
    except BaseException:
        pipeline.failed.add((gen, job.root))
        raise
    finally:
        await fs.set_event(pipeline.done_event(job.root))


async def ordered(fs: SchedFS, job: Job, pipeline: KeepalivePipeline) -> list[str]:
    async def work() -> list[str]:
        try:
            await remove_dir_all(fs, job.root)
        except FileNotFoundError:
            pass
        return await _extract(fs, job, pipeline)

    return await _after_parent(fs, job, pipeline, work)


# C: staging + atomic publish ----------------------------------------------------------------------

def stage_path(root: str) -> str:
    return join(parent_of(root), "." + root.rsplit("/", 1)[1] + ".stage")


async def staged(fs: SchedFS, job: Job, pipeline: KeepalivePipeline) -> list[str]:
    async def work() -> list[str]:
        stage = stage_path(job.root)
        try:  # a crashed run's leftover
            await remove_dir_all(fs, stage)
        except FileNotFoundError:
            pass
        await create_dir_all(fs, stage)
        data = await download(fs, job, pipeline)
        written = await tar.unpack(fs, stage, data)
        try:
            await fs.rename(stage, job.root, noreplace=True)
        except FileExistsError:
            await fs.rename(stage, job.root, exchange=True)  # the old tree is now at the stage name
            await remove_dir_all(fs, stage)
        return [job.root + p[len(stage):] for p in written]

    return await _after_parent(fs, job, pipeline, work)


# D: manifest-owned sync ---------------------------------------------------------------------------

def manifest_path(root: str) -> str:
    return join(STATE_DIR, root.strip("/").replace("/", "%") + ".manifest")


async def manifest_sync(fs: SchedFS, job: Job, pipeline: Any) -> list[str]:
    path = manifest_path(job.root)
    try:
        old = [line for line in (await fs.read_file(path)).decode().split("\n") if line]
    except FileNotFoundError:
        old = []
    written = await _extract(fs, job, pipeline)
    new = [p[len(job.root) + 1:] for p in written if p.startswith(job.root + "/")]
    others = [m for m in job.mounts if m != job.root]
    for rel in sorted(set(old) - set(new), key=lambda r: (-r.count("/"), r)):  # deepest first
        victim = join(job.root, rel)
        if any(m == victim or m.startswith(victim + "/") for m in others):
            continue  # another mount's root or spine
        try:
            await fs.unlink(victim, nofollow_ancestors=True)
        except IsADirectoryError:
            try:
                await fs.rmdir(victim, nofollow_ancestors=True)
            except OSError as exc:
                if exc.errno not in (E.ENOENT, E.ENOTEMPTY):
                    raise
        except FileNotFoundError:
            pass
    await create_dir_all(fs, STATE_DIR)
    await fs.write_file(path + ".tmp", "\n".join(sorted(new)).encode())
    await fs.rename(path + ".tmp", path)
    return written


CANDIDATES: dict[str, Candidate] = {}


def _register(c: Candidate) -> None:
    CANDIDATES[c.name] = c


_register(Candidate(
    "A", "barrier: selective clean of every mount (nested roots skipped), then parallel extraction",
    (clean_mount, _extract),
    "Every worker empties its own mount root, walking into the spine directories that lead to nested "
    "mount roots without removing them or the roots; a barrier; then every worker extracts with "
    "create_dir_all + unpack only. No delete runs while any extraction runs, and no two workers "
    "delete in the same subtree, so the incident's overlap cannot happen.",
    """fn keep_alive(mounts: &[Mount]) -> io::Result<()> {
    validate(mounts)?;                      // normalized, no duplicates, no symlinked root or spine
    let barrier = Barrier::new(mounts.len());  // one party per spawned thread (a pool: see below)
    thread::scope(|s| for m in mounts { s.spawn(|| {
        let cleaned = clean(&m.root, &nested_roots(m, mounts));   // never the root itself
        barrier.wait();                     // a failed clean still arrives
        cleaned?;
        fs::create_dir_all(&m.root)?;
        Archive::new(download(m)?).unpack(&m.root)
    }); })
}
fn clean(root: &Path, keep: &[PathBuf]) -> io::Result<()> {
    match fs::symlink_metadata(root) {     // with O_NOFOLLOW on every component (openat2 RESOLVE_NO_SYMLINKS)
        Err(e) if e.kind() == NotFound || e.kind() == NotADirectory => return Ok(()),
        Ok(md) if !md.is_dir() => return fs::remove_file(root),
        r => { r?; }
    }
    for entry in fs::read_dir(root)? {
        let p = entry?.path();
        if keep.contains(&p) { continue; }                       // a nested mount root
        if keep.iter().any(|k| k.starts_with(&p) && k != &p) {   // a spine directory (component-wise)
            if entry.file_type()?.is_dir() { clean(&p, keep)? } else { fs::remove_file(&p)? }
        } else {
            let ft = entry.file_type()?;                         // d_type: a symlink is not followed
            ignore_not_found(if ft.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) })?;
        }
    }
    Ok(())
}""",
    ("the previous session is stopped first (quiesced): a still-running writer makes the clean fail "
     "with ENOTEMPTY",
     "mount paths are normalized and compared component-wise (skills vs skills2 are siblings); "
     "duplicates rejected",
     "no archive may contain an entry on a spine or nested-root path (reject it before extracting)",
     "roots may be real mount points: the root itself is never removed or renamed (no EBUSY; proved "
     "with mount_points = true, where B fails)",
     "the barrier's party count is the number of threads that wait on it (one per mount; with a pool "
     "of W < mounts workers, each cleans its share of the mounts in mount order, then W parties meet); "
     "a failed clean still arrives at the barrier")))
_register(Candidate(
    "B", "ordered: parent mount before child (remove_dir_all, create_dir_all, unpack)", (ordered,),
    "A mount's worker starts only after its parent mount's worker finished cleaning and extracting; "
    "siblings run in parallel.",
    """if let Some(p) = parent_mount(m, mounts) { done[p].wait(); if failed[p] { bail!(...) } }
ignore_not_found(fs::remove_dir_all(&m.root))?;   // removes the root itself: EBUSY on a real mount point
fs::create_dir_all(&m.root)?; Archive::new(download(m)?).unpack(&m.root)?;
done[m].set();                                    // also on error""",
    ("the previous session is stopped first", "roots are plain directories, not mount points (the root is "
     "removed and re-created)", "the mount forest is computed component-wise")))
_register(Candidate(
    "C", "staged: per-mount staging + renameat2 publish (NOREPLACE / EXCHANGE), parents first", (staged,),
    "Extract into a stage next to the root, publish atomically, remove the old tree; children wait for "
    "the parent's publish and stage inside the new parent tree.",
    """let stage = root.parent().join(format!(".{}.stage", name));
ignore_not_found(fs::remove_dir_all(&stage))?; fs::create_dir_all(&stage)?;
Archive::new(download(m)?).unpack(&stage)?;
match renameat2(&stage, &root, RENAME_NOREPLACE) {
    Err(e) if e.kind() == AlreadyExists => { renameat2(&stage, &root, RENAME_EXCHANGE)?; fs::remove_dir_all(&stage)? }
    r => r?,
}""",
    ("the stage of a top-level mount lives outside every mount (next to it)", "renameat2 is supported "
     "(EINVAL on some FUSE/virtiofs/NFS)", "roots are not mount points (EBUSY on rename)")))
_register(Candidate(
    "D", "manifest: extract with overwrite, then unlink what the previous extraction wrote and this "
         "one did not (manifest outside the tree)", (manifest_sync,),
    "Fully parallel; each worker deletes only what its own previous extraction wrote.",
    """let old = read_manifest(m).unwrap_or_default();
fs::create_dir_all(&m.root)?; let new = unpack_listing(download(m)?, &m.root)?;
for p in old.difference(&new).deepest_first() {
    if !is_ancestor_of_other_root(p) { ignore_not_found(unlink_or_rmdir_empty(p))? }
}
write_manifest_atomically(m, &new)?;""",
    ("a manifest exists from the previous session (first run or lost manifest: nothing is cleaned)",
     "only content the extractor wrote is ever removed")))
