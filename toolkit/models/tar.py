"""The tar crate's ``Archive::unpack`` (tar-rs 0.4.45) as a walk of steps.

Archives are real tar bytes (built with the standard library's ``tarfile``, which is used only
to *write* them). Reading and extraction are modelled on tar-rs (``src/archive.rs``
``next_entry``/``next_entry_raw``/``_unpack``, ``src/entry.rs`` ``unpack_in``/``unpack``/
``unpack_dir``/``ensure_dir_created``/``validate_inside_dst``), not ``tarfile``, whose behaviour
differs in ways that change outcomes (SEMANTICS-AND-FAULTS.md §1.6). Checked step by step against
a std-only Rust port of that code under strace (``tests/fidelity``).

- ``unpack(dst)``: ``lstat(dst)``; if missing ``create_dir_all(dst)``; ``dst = canonicalize(dst)``
  (an error is swallowed). Entries are applied in order; entries of type directory (``5``) are
  deferred to the end and applied in reverse raw-path order.
- reading: a GNU long name (``L``) or long link (``K``) and a PAX local header (``x``; ``path``,
  ``linkpath``, ``size``) are consumed as metadata of the next entry (two of one kind, or metadata
  at the end, fail). The size field is honoured for *every* entry type (a PAX ``size`` overrides
  it); its data is skipped unless the entry is written as a file. A stream cut exactly on an entry
  boundary ends the archive with success (entries missing); a cut inside a header fails ("failed
  to read entire block"), and so does one inside the padding after an entry's data ("unexpected EOF
  during skip", when the next header is sought); a bad header checksum or number fails; a cut
  inside data writes the partial file and fails ("failed to write entire file"). Only a
  ``ustar\0``/``00`` header has a prefix field.
- per entry (``unpack_in``): a name with a ``..`` component is skipped silently; root and ``.``
  components are dropped (absolute names are re-rooted under ``dst``); ``ensure_dir_created``
  walks up with ``lstat`` while missing, then top-down validates the parent (canonicalize it and
  ``dst``) and ``create_dir_all``s each missing ancestor; ``validate_inside_dst(dst, parent)``
  canonicalizes both and requires containment (this is where the incident's ENOENT came from);
  then the entry is unpacked:
  - a directory: ``mkdir`` (EEXIST fine if ``lstat`` says directory), then ``chmod`` *by path*
    (following symlinks; ENOENT if a sibling removed it meanwhile);
  - a symlink: ``symlink`` (any target, unvalidated; an empty one is an error; on EEXIST
    ``unlink`` and again), then its mtime *by path* (``utimensat(AT_SYMLINK_NOFOLLOW)``,
    ``preserve_mtime`` is on by default; ENOENT possible);
  - a hard link: the *source* (``canonical dst``.join(target): an absolute target replaces it) is
    canonicalized and must be inside ``dst``, then ``link`` (no overwrite retry);
  - PAX global headers and other metadata-only types: nothing after the checks;
  - an old-style (not ustar) header whose name ends in ``/``: a directory, unpacked in place
    (not deferred);
  - anything else is a regular file: ``open(create_new)`` (on EEXIST: ``unlink`` and again,
    NotFound from that unlink tolerated), ``write``, ``close``. Its mtime and mode are set
    through the open handle (``futimens``, ``fchmod``): not steps, they cannot fail by a race.
"""

from __future__ import annotations

import errno as E
import functools
import io
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from raceproof.fs.base import join, parent_of
from raceproof.models.rust_fs import create_dir_all

if TYPE_CHECKING:
    from raceproof.sfs import SchedFS

MemberKind = Literal["file", "dir", "symlink", "hardlink", "meta"]
BLOCK = 512


@dataclass(frozen=True)
class Member:
    name: str
    kind: MemberKind = "file"
    data: bytes = b""
    target: str = ""
    #: the header is ``ustar\0``/``00`` (False: old-style or GNU, where a trailing ``/`` means directory)
    ustar: bool = True


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
    text = block[start:start + length].split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise TarError(E.EIO, "numeric field was not a number") from None


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


_META = {b"L": "longname", b"K": "longlink", b"x": "pax"}


def _pax(records: bytes) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(records):
        space = records.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(records[pos:space])
        except ValueError:
            break
        if length <= 0:
            break
        record = records[space + 1:pos + length].rstrip(b"\n")
        key, _, value = record.partition(b"=")
        out[key] = value
        pos += length
    return out


def _iter(data: bytes) -> Iterator[tuple[tuple[Member, bool], int]]:
    pos = 0
    meta: dict[str, bytes] = {}
    while True:
        if pos > len(data):  # the previous entry's data or padding was cut: ``skip`` fails
            raise TarError(E.EIO, "unexpected EOF during skip")
        if pos >= len(data):  # EOF on an entry boundary: tar-rs treats it as the end (success)
            if meta:
                raise TarError(E.EIO, "members found describing a future member but no future member found")
            return
        block = data[pos:pos + BLOCK]
        if len(block) < BLOCK:
            raise TarError(E.EIO, "failed to read entire block")
        if block == b"\0" * BLOCK:
            if meta:
                raise TarError(E.EIO, "members found describing a future member but no future member found")
            return
        chksum = _octal(block, 148, 8)
        if chksum != sum(block[:148]) + 32 * 8 + sum(block[156:]):
            raise TarError(E.EIO, "archive header checksum mismatch")
        ustar = block[257:263] == b"ustar\0" and block[263:265] == b"00"
        gnu = block[257:263] == b"ustar " and block[263:265] == b" \0"
        size = _octal(block, 124, 12)
        pax = _pax(meta["pax"]) if "pax" in meta else {}
        if b"size" in pax:
            size = int(pax[b"size"])
        flag = block[156:157]
        start = pos + BLOCK
        body = data[start:start + size]
        pos = start + ((size + BLOCK - 1) // BLOCK) * BLOCK
        which = _META.get(flag)
        if which is not None and (ustar or gnu):
            if which in meta:
                what = "pax extensions" if which == "pax" else "long name"
                raise TarError(E.EIO, f"two {what} entries describing the same member")
            if len(body) < size:
                raise TarError(E.EIO, "failed to read entire block")
            meta[which] = body
            continue
        name = _field(block, 0, 100)
        if ustar and block[345:346] != b"\0":
            name = _field(block, 345, 155) + "/" + name
        target = _field(block, 157, 100)
        if "longname" in meta:
            name = meta["longname"].rstrip(b"\0").decode("utf-8", "surrogateescape") \
                if meta["longname"].endswith(b"\0") else meta["longname"].decode("utf-8", "surrogateescape")
        elif b"path" in pax:
            name = pax[b"path"].decode("utf-8", "surrogateescape")
        if "longlink" in meta:
            raw = meta["longlink"]
            target = (raw[:-1] if raw.endswith(b"\0") else raw).decode("utf-8", "surrogateescape")
        elif b"linkpath" in pax:
            target = pax[b"linkpath"].decode("utf-8", "surrogateescape")
        meta = {}
        kind: MemberKind = {b"5": "dir", b"2": "symlink", b"1": "hardlink", b"g": "meta", b"x": "meta",
                            b"L": "meta", b"K": "meta"}.get(flag, "file")  # type: ignore[assignment]
        complete = len(body) == size or kind != "file"
        yield (Member(name, kind, body if kind == "file" else b"", target, ustar), complete), pos


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


async def unpack(fs: SchedFS, dst: str, data: bytes, *, legacy: bool = False) -> list[str]:
    """Extract `data` into `dst` as tar-rs does; return the paths of the entries it unpacked.
    ``legacy``: the older toolchain's ``create_dir_all`` (see ``rust_fs``)."""
    try:
        await fs.lstat(dst)
    except OSError:
        await create_dir_all(fs, dst, legacy=legacy)
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
        path = await _unpack_in(fs, dst, member, parts, complete, legacy)
        if path:
            written.append(path)
    # tar-rs sorts by the raw header path bytes (``path_bytes``), not by the sanitized path
    deferred.sort(key=lambda mp: mp[0].name.encode("utf-8", "surrogateescape"), reverse=True)
    for member, parts in deferred:
        written.append(await _unpack_in(fs, dst, member, parts, True, legacy))
    return written


async def _validate_inside(fs: SchedFS, dst: str, path: str) -> str:
    canon_parent = await fs.canonicalize(path)
    canon_dst = await fs.canonicalize(dst)
    if not (canon_parent == canon_dst or canon_parent.startswith(canon_dst.rstrip("/") + "/")):
        raise TarError(E.EINVAL, f"trying to unpack outside of destination path: {canon_dst}")
    return canon_dst


async def _ensure_dir_created(fs: SchedFS, dst: str, directory: str, legacy: bool) -> None:
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
        await create_dir_all(fs, anc, legacy=legacy)


async def _unpack_in(fs: SchedFS, dst: str, member: Member, parts: list[str], complete: bool,
                     legacy: bool = False) -> str:
    path = join(dst, "/".join(parts))
    parent = parent_of(path)
    await _ensure_dir_created(fs, dst, parent, legacy)
    canon_dst = await _validate_inside(fs, dst, parent)
    if member.kind == "meta":
        return ""
    if member.kind == "dir" or (member.kind == "file" and not member.ustar and member.name.endswith("/")):
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
        await _path_step(fs, "chmod", path, follow=True)  # set_perms(dst, None): by path, at the end
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
        await _path_step(fs, "utimes", path, follow=False)  # set_symlink_file_times: by path
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


async def _path_step(fs: SchedFS, op: str, path: str, *, follow: bool) -> None:
    """A metadata update by path (``chmod``, ``utimensat``): one lookup, ENOENT/ENOTDIR if the path
    is gone. The model has no modes or times, so it changes nothing the model reads."""
    vfs = fs.vfs
    await fs.step(op, path, vfs.stat if follow else vfs.lstat, path, render=lambda _: "ok")
