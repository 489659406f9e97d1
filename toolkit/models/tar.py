"""The tar crate's ``Archive::unpack`` (tar-rs 0.4.45) as a walk of steps.

Archives are real ustar bytes (built with the standard library's ``tarfile``, which is used only
to *write* them). Reading and extraction are modelled on tar-rs, not ``tarfile``, whose
behaviour differs in ways that change outcomes (SEMANTICS-AND-FAULTS.md §1.6):

- ``unpack(dst)``: ``lstat(dst)``; if missing ``create_dir_all(dst)``; ``dst = canonicalize(dst)``
  (an error is swallowed). Entries are applied in order; directory entries are deferred to the
  end and applied in reverse path order.
- per entry (``unpack_in``): a name with a ``..`` component is skipped silently; root and ``.``
  components are dropped (absolute names are re-rooted under ``dst``); ``ensure_dir_created``
  walks up with ``lstat`` while missing, then top-down validates the parent (canonicalize it and
  ``dst``) and ``create_dir_all``s each missing ancestor; ``validate_inside_dst(dst, parent)``
  canonicalizes both and requires containment (this is where the incident's ENOENT came from);
  then the entry is unpacked: a regular file with ``open(create_new)`` (on EEXIST: ``unlink`` and
  again, NotFound from that unlink tolerated), ``write``, ``close``; a symlink with ``symlink``
  (any target, unvalidated; an empty one is an error); a hard link whose *source*
  (``canonical dst``.join(target): an absolute target replaces it) is canonicalized and must be
  inside ``dst`` (no overwrite retry); a directory with ``mkdir`` (EEXIST fine if ``lstat`` says
  it is a directory). Deferred directories are sorted by raw header path bytes. Not modelled:
  chmod/utimes after each entry (fd-based for files; path-based for directories).
- reading: a stream cut exactly on an entry boundary ends the archive with success (entries
  missing); a cut inside a header fails ("failed to read entire block"); a bad header checksum
  fails; a cut inside data writes the partial file and fails ("failed to write entire file").
"""

from __future__ import annotations

import errno as E
import functools
import io
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from raceproof.fs.base import join, oserror, parent_of
from raceproof.models.rust_fs import create_dir_all

if TYPE_CHECKING:
    from raceproof.sfs import SchedFS

MemberKind = Literal["file", "dir", "symlink", "hardlink"]
BLOCK = 512


@dataclass(frozen=True)
class Member:
    name: str
    kind: MemberKind = "file"
    data: bytes = b""
    target: str = ""


class TarError(OSError):
    """An archive-level error (like tar-rs's ``TarError``), with an errno when one applies."""


def build(members: Sequence[Member], *, end_blocks: bool = True) -> bytes:
    """Serialize members to ustar bytes, raw names kept (hostile ones included)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.mtime = 0
            info.mode = 0o755 if m.kind == "dir" else 0o644
            if m.kind == "file":
                info.size = len(m.data)
                tf.addfile(info, io.BytesIO(m.data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[m.kind]
            info.linkname = m.target
            tf.addfile(info)
    data = buf.getvalue()
    if not end_blocks:
        data = data[: entry_boundaries(data)[-1]]
    return data


def _field(block: bytes, start: int, length: int) -> str:
    return block[start:start + length].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _octal(block: bytes, start: int, length: int) -> int:
    text = block[start:start + length].replace(b"\0", b" ").strip()
    return int(text, 8) if text else 0


def entry_boundaries(data: bytes) -> list[int]:
    """Offsets where each entry starts, plus the offset after the last entry (before end blocks)."""
    out = [0]
    for _member, end in _iter(data):
        out.append(end)
    return out


def parse(data: bytes) -> Iterator[tuple[Member, bool]]:
    """Yield ``(member, complete)``; ``complete`` is False for a member whose data was cut.

    A malformed archive raises its error at the entry where reading failed, as tar-rs does."""
    members, error = _parsed(data)
    yield from members
    if error is not None:
        raise TarError(error.errno, error.strerror)


@functools.lru_cache(maxsize=512)
def _parsed(data: bytes) -> tuple[tuple[tuple[Member, bool], ...], TarError | None]:
    """Parse once per distinct archive (executions replay the same bytes many times)."""
    out = []
    try:
        for member, _end in _iter(data):
            out.append(member)
    except TarError as exc:
        return tuple(out), exc
    return tuple(out), None


def _iter(data: bytes) -> Iterator[tuple[tuple[Member, bool], int]]:
    pos = 0
    while True:
        if pos >= len(data):
            return  # EOF on an entry boundary: tar-rs treats it as the end (success)
        block = data[pos:pos + BLOCK]
        if len(block) < BLOCK:
            raise TarError(E.EIO, "failed to read entire block")
        if block == b"\0" * BLOCK:
            return
        chksum = _octal(block, 148, 8)
        if chksum != sum(block[:148]) + 32 * 8 + sum(block[156:]):
            raise TarError(E.EIO, "archive header checksum mismatch")
        name = _field(block, 0, 100)
        prefix = _field(block, 345, 155)
        if prefix:
            name = prefix + "/" + name
        size = _octal(block, 124, 12)
        flag = block[156:157]
        target = _field(block, 157, 100)
        kind: MemberKind = {b"5": "dir", b"2": "symlink", b"1": "hardlink"}.get(flag, "file")  # type: ignore[assignment]
        start = pos + BLOCK
        body = data[start:start + size] if kind == "file" else b""
        complete = len(body) == size or kind != "file"
        pos = start + ((size + BLOCK - 1) // BLOCK) * BLOCK if kind == "file" else start
        yield (Member(name, kind, body, target), complete), pos


def sanitize(name: str) -> list[str] | None:
    """tar-rs path sanitation: None means 'skip this entry' (a ``..`` component or empty)."""
    parts = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            return None
        parts.append(comp)
    return parts or None


async def unpack(fs: SchedFS, dst: str, data: bytes) -> list[str]:
    """Extract `data` into `dst` as tar-rs does; return the paths of the entries it unpacked."""
    try:
        await fs.lstat(dst)
    except OSError:
        await create_dir_all(fs, dst)
    try:
        dst = await fs.canonicalize(dst)
    except OSError:
        pass
    written: list[str] = []
    deferred: list[tuple[Member, list[str]]] = []
    for member, complete in parse(data):
        parts = sanitize(member.name)
        if parts is None:
            continue
        if member.kind == "dir":
            deferred.append((member, parts))
            continue
        path = await _unpack_in(fs, dst, member, parts, complete)
        written.append(path)
    # tar-rs sorts by the raw header path bytes (``path_bytes``), not by the sanitized path
    deferred.sort(key=lambda mp: mp[0].name.encode("utf-8", "surrogateescape"), reverse=True)
    for member, parts in deferred:
        written.append(await _unpack_in(fs, dst, member, parts, True))
    return written


async def _validate_inside(fs: SchedFS, dst: str, path: str) -> str:
    canon_parent = await fs.canonicalize(path)
    canon_dst = await fs.canonicalize(dst)
    if not (canon_parent == canon_dst or canon_parent.startswith(canon_dst.rstrip("/") + "/")):
        raise oserror(E.EINVAL, f"trying to unpack outside of destination path: {canon_dst}")
    return canon_dst


async def _ensure_dir_created(fs: SchedFS, dst: str, directory: str) -> None:
    missing: list[str] = []
    ancestor = directory
    while True:
        try:
            await fs.lstat(ancestor)
            break
        except OSError:
            missing.append(ancestor)
            if ancestor == "/":
                break
            ancestor = parent_of(ancestor)
    for anc in reversed(missing):
        if anc != "/":
            await _validate_inside(fs, dst, parent_of(anc))
        await create_dir_all(fs, anc)


async def _unpack_in(fs: SchedFS, dst: str, member: Member, parts: list[str], complete: bool) -> str:
    path = join(dst, "/".join(parts))
    parent = parent_of(path)
    await _ensure_dir_created(fs, dst, parent)
    canon_dst = await _validate_inside(fs, dst, parent)
    if member.kind == "dir":
        # unpack_dir: create_dir; on AlreadyExists only, an existing *directory* is fine
        try:
            await fs.mkdir(path)
        except FileExistsError:
            try:
                st = await fs.lstat(path)
            except OSError:
                st = None
            if st is None or st.kind != "dir":
                raise
        return path
    if member.kind in ("symlink", "hardlink") and not member.target:
        raise TarError(E.EINVAL, f"{'symlink' if member.kind == 'symlink' else 'hard link'} destination "
                                 f"for {member.name} is empty")
    if member.kind == "symlink":
        try:
            await fs.symlink(member.target, path)
        except FileExistsError:
            await fs.unlink(path)
            await fs.symlink(member.target, path)
        return path
    if member.kind == "hardlink":
        # target_base.join(src): an absolute src replaces the base; `..` stays for canonicalize;
        # validate_inside_dst canonicalizes the link source itself; no overwrite retry
        src = member.target if member.target.startswith("/") else join(canon_dst, member.target)
        await _validate_inside(fs, canon_dst, src)
        await fs.link(src, path)
        return path
    try:
        handle = await fs.open(path, "x")
    except FileExistsError:
        try:
            await fs.unlink(path)
        except FileNotFoundError:
            pass
        handle = await fs.open(path, "x")
    try:
        if member.data:
            await fs.write(handle, member.data, path)
    finally:
        await fs.close(handle, path)
    if not complete:
        raise TarError(E.EIO, f"failed to write entire file {path}")
    return path
