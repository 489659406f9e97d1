"""Which system calls are steps, and what each one names: the fidelity mapping as a decoder.

``decode(nr, args, read_string)`` turns a system call entry into a ``Call``: the step it is (named
as raceproof's model names steps, ``tests/fidelity/harness.py``), its path arguments, the fd it
acts on, and whether it changes the file system. The driver gates a call when one of its paths
resolves into the sandbox or its fd is open on a file or directory there; everything else runs
ungated. Not steps, as the fidelity mapping defines (they act on an open inode, not a path, and
cannot fail by a race): ``fstat``/``newfstatat(fd, "", AT_EMPTY_PATH)``/``statx`` of an fd,
``fcntl``, ``lseek``, ``fchmod``, ``futimens`` (``utimensat`` with a NULL path), ``fsync``, and
``close`` of a directory fd.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from raceproof.exec.ptrace import NR

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_REMOVEDIR = 0x200
AT_EMPTY_PATH = 0x1000
O_ACCMODE = 3
O_CREAT = 0o100
O_EXCL = 0o200
O_TRUNC = 0o1000
O_DIRECTORY = 0o200000
O_NOFOLLOW = 0o400000

#: refused whatever their arguments: they could leave the sandbox's namespace or change the host
REFUSED = frozenset(NR[n] for n in (
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "open_tree", "move_mount", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "name_to_handle_at", "open_by_handle_at",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "ptrace", "process_vm_writev", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff",
    "acct", "bpf", "perf_event_open", "fanotify_init"))
CLONES = frozenset(NR[n] for n in ("clone", "clone3", "fork", "vfork"))


@dataclass
class Call:
    """One decoded system call entry."""

    name: str  # the system call
    op: str  # the step it is (model names)
    paths: list[tuple[int, str]]  # (dirfd, path) arguments, in order
    fd: int | None = None  # the fd it acts on (fd calls)
    mutating: bool = False  # changes the file system (refused outside the sandbox)
    follow: bool = True  # a final symlink is followed (for the last path)
    create: bool = False  # may create its (last) path
    write_content: bool = False  # an open that may write the file's content
    buf: int = 0  # getdents64/readlink buffer address


def _s(read: Callable[[int], bytes | None], addr: int) -> str | None:
    raw = read(addr)
    return None if raw is None else raw.decode("utf-8", "surrogateescape")


def _fd(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def decode(nr: int, a: tuple[int, ...], read: Callable[[int], bytes | None]) -> Call | None:
    """The ``Call`` for system call `nr` with arguments `a`, or None when it touches no path and no fd
    that can be a step (``read`` reads a C string from the tracee)."""
    cwd = AT_FDCWD

    def p(dirfd: int, addr: int) -> list[tuple[int, str]]:
        s = _s(read, addr)
        return [] if s is None else [(dirfd, s)]

    if nr in (NR["open"], NR["openat"], NR["creat"], NR["openat2"]):
        if nr == NR["open"]:
            dirfd, path, flags = cwd, a[0], a[1]
        elif nr == NR["creat"]:
            dirfd, path, flags = cwd, a[0], O_CREAT | O_TRUNC | 1
        elif nr == NR["openat"]:
            dirfd, path, flags = _fd(a[0]), a[1], a[2]
        else:
            how = read(a[2]) or b""  # struct open_how: u64 flags first (a string read stops at NUL)
            flags = int.from_bytes((how + b"\0" * 8)[:8], "little")
            dirfd, path = _fd(a[0]), a[1]
        paths = p(dirfd, path)
        if flags & O_DIRECTORY:
            return Call("openat", "opendir", paths, follow=not flags & O_NOFOLLOW)
        writes = (flags & O_ACCMODE) != 0 or bool(flags & (O_TRUNC | O_CREAT))
        excl = flags & O_CREAT and flags & O_EXCL
        return Call("openat", "open", paths, mutating=writes, follow=not (excl or flags & O_NOFOLLOW),
                    create=bool(flags & O_CREAT), write_content=writes)
    if nr in (NR["mkdir"], NR["mkdirat"], NR["mknod"], NR["mknodat"]):
        at = nr in (NR["mkdirat"], NR["mknodat"])
        return Call("mkdir", "mkdir", p(_fd(a[0]), a[1]) if at else p(cwd, a[0]), mutating=True, follow=False,
                    create=True)
    if nr in (NR["rmdir"], NR["unlink"], NR["unlinkat"]):
        if nr == NR["unlinkat"]:
            op = "rmdir" if a[2] & AT_REMOVEDIR else "unlink"
            return Call("unlinkat", op, p(_fd(a[0]), a[1]), mutating=True, follow=False)
        return Call(NR_NAME[nr], "rmdir" if nr == NR["rmdir"] else "unlink", p(cwd, a[0]), mutating=True,
                    follow=False)
    if nr in (NR["stat"], NR["lstat"]):
        return Call(NR_NAME[nr], "stat" if nr == NR["stat"] else "lstat", p(cwd, a[0]), follow=nr == NR["stat"])
    if nr in (NR["newfstatat"], NR["statx"]):
        s = _s(read, a[1])
        flags = a[3] if nr == NR["newfstatat"] else a[2]
        if not s and (flags & AT_EMPTY_PATH or s is None):
            return None  # fstat of an fd (or std's statx(0, NULL) probe): not a step
        nofollow = bool(flags & AT_SYMLINK_NOFOLLOW)
        op = "lstat" if nofollow else ("is_dir" if nr == NR["statx"] else "stat")
        return Call(NR_NAME[nr], op, [(_fd(a[0]), s or "")], follow=not nofollow)
    if nr in (NR["readlink"], NR["readlinkat"]):
        at = nr == NR["readlinkat"]
        return Call("readlink", "realpath", p(_fd(a[0]), a[1]) if at else p(cwd, a[0]), follow=False)
    if nr in (NR["access"], NR["faccessat"], NR["faccessat2"]):
        paths = p(cwd, a[0]) if nr == NR["access"] else p(_fd(a[0]), a[1])
        return Call("faccessat2" if nr == NR["faccessat2"] else "access", "access", paths)
    if nr in (NR["symlink"], NR["symlinkat"]):
        paths = p(cwd, a[1]) if nr == NR["symlink"] else p(_fd(a[1]), a[2])
        return Call("symlink", "symlink", paths, mutating=True, follow=False, create=True)
    if nr in (NR["link"], NR["linkat"]):
        paths = p(cwd, a[0]) + p(cwd, a[1]) if nr == NR["link"] else p(_fd(a[0]), a[1]) + p(_fd(a[2]), a[3])
        return Call("link", "link", paths, mutating=True, follow=False, create=True)
    if nr in (NR["rename"], NR["renameat"], NR["renameat2"]):
        paths = p(cwd, a[0]) + p(cwd, a[1]) if nr == NR["rename"] else p(_fd(a[0]), a[1]) + p(_fd(a[2]), a[3])
        return Call("rename", "rename", paths, mutating=True, follow=False, create=True)
    if nr in (NR["chmod"], NR["fchmodat"], NR["fchmodat2"]):
        return Call("chmod", "chmod", p(cwd, a[0]) if nr == NR["chmod"] else p(_fd(a[0]), a[1]), mutating=True)
    if nr in (NR["chown"], NR["lchown"], NR["fchownat"]):
        paths = p(_fd(a[0]), a[1]) if nr == NR["fchownat"] else p(cwd, a[0])
        follow = nr == NR["chown"] or (nr == NR["fchownat"] and not a[4] & AT_SYMLINK_NOFOLLOW)
        return Call("chown", "chown", paths, mutating=True, follow=follow)
    if nr in (NR["utimensat"], NR["utime"], NR["utimes"], NR["futimesat"]):
        if nr == NR["utimensat"]:
            if a[1] == 0:
                return None  # futimens(fd): through the open handle, not a step
            return Call("utimensat", "utimes", p(_fd(a[0]), a[1]), mutating=True,
                        follow=not a[3] & AT_SYMLINK_NOFOLLOW)
        paths = p(_fd(a[0]), a[1]) if nr == NR["futimesat"] else p(cwd, a[0])
        return Call(NR_NAME[nr], "utimes", paths, mutating=True)
    if nr in (NR["setxattr"], NR["lsetxattr"], NR["removexattr"], NR["lremovexattr"]):
        return Call(NR_NAME[nr], "setxattr", p(cwd, a[0]), mutating=True,
                    follow=nr in (NR["setxattr"], NR["removexattr"]))
    if nr == NR["truncate"]:
        return Call("truncate", "truncate", p(cwd, a[0]), mutating=True, write_content=True)
    if nr in (NR["execve"], NR["chdir"]):
        return Call(NR_NAME[nr], NR_NAME[nr], p(cwd, a[0]))
    if nr == NR["execveat"]:
        return Call("execveat", "execve", p(_fd(a[0]), a[1]))
    if nr in (NR["getdents64"], NR["getdents"]):
        return Call("getdents64", "readdir", [], fd=_fd(a[0]), buf=a[1])
    if nr in (NR["read"], NR["pread64"], NR["readv"], NR["preadv"], NR["preadv2"]):
        return Call(NR_NAME[nr], "read", [], fd=_fd(a[0]))
    if nr in (NR["write"], NR["pwrite64"], NR["writev"], NR["pwritev"], NR["pwritev2"], NR["ftruncate"],
              NR["fallocate"]):
        return Call(NR_NAME[nr], "write", [], fd=_fd(a[0]), mutating=True)
    if nr in (NR["copy_file_range"], NR["sendfile"], NR["splice"]):
        out_fd = _fd(a[0]) if nr == NR["sendfile"] else _fd(a[2])
        return Call(NR_NAME[nr], "write", [], fd=out_fd, mutating=True)
    if nr == NR["close"]:
        return Call("close", "close", [], fd=_fd(a[0]))
    return None


NR_NAME = {v: k for k, v in NR.items()}
