"""ptrace(2) through ctypes, for x86_64 Linux: requests, options, registers and system call numbers.

Only what the driver uses: ``PTRACE_SYSCALL`` stops (with ``PTRACE_O_TRACESYSGOOD``), clone/fork/
exec events, ``PTRACE_GET_SYSCALL_INFO`` (Linux 5.3) to read a stop's system call and arguments,
``PTRACE_GETREGS``/``SETREGS`` to refuse one (skip it at entry, set ``-EPERM`` at exit), and the
tracee's memory through ``/proc/PID/mem``.
"""

from __future__ import annotations

import ctypes
import errno as E
import os
import platform
import struct

PTRACE_TRACEME = 0
PTRACE_CONT = 7
PTRACE_KILL = 8
PTRACE_GETREGS = 12
PTRACE_SETREGS = 13
PTRACE_SYSCALL = 24
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
PTRACE_GET_SYSCALL_INFO = 0x420E

PTRACE_O_TRACESYSGOOD = 0x01
PTRACE_O_TRACEFORK = 0x02
PTRACE_O_TRACEVFORK = 0x04
PTRACE_O_TRACECLONE = 0x08
PTRACE_O_TRACEEXEC = 0x10
PTRACE_O_EXITKILL = 0x100000

EVENT_FORK, EVENT_VFORK, EVENT_CLONE, EVENT_EXEC = 1, 2, 3, 4
OPTIONS = (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE
           | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL)
WALL = 0x40000000  # __WALL: wait for threads too

SYSCALL_INFO_ENTRY = 1
SYSCALL_INFO_EXIT = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]


class Regs(ctypes.Structure):
    """``struct user_regs_struct`` (x86_64)."""

    _fields_ = [(n, ctypes.c_ulonglong) for n in (
        "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi",
        "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs")]


def unavailable() -> str | None:
    """Why the driver cannot run here (a reason to skip), or None."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return f"raceproof exec needs Linux on x86_64 (this is {platform.system()} {platform.machine()})"
    if os.geteuid() != 0:
        return "raceproof exec needs root (a private mount namespace for the sandbox)"
    return None


def ptrace(request: int, pid: int, addr: int = 0, data: int | ctypes.c_void_p | None = 0) -> int:
    ctypes.set_errno(0)
    res = _libc.ptrace(request, pid, ctypes.c_void_p(addr), data if isinstance(data, ctypes.c_void_p)
                       else ctypes.c_void_p(data))
    if res == -1:
        err = ctypes.get_errno()
        if err:
            raise OSError(err, f"ptrace({request:#x}, {pid}): {os.strerror(err)}")
    return int(res)


def traceme() -> None:
    """In the child, before exec: become a tracee (the exec then stops it with SIGTRAP)."""
    if _libc.ptrace(PTRACE_TRACEME, 0, None, None) == -1:
        raise OSError(ctypes.get_errno(), "PTRACE_TRACEME")


def resume(tid: int, sig: int = 0) -> bool:
    """Continue to the next system call stop; False if the thread is gone (killed meanwhile)."""
    try:
        ptrace(PTRACE_SYSCALL, tid, 0, sig)
    except OSError as exc:
        if exc.errno == E.ESRCH:
            return False
        raise
    return True


def set_options(tid: int) -> None:
    ptrace(PTRACE_SETOPTIONS, tid, 0, OPTIONS)


def event_msg(tid: int) -> int:
    out = ctypes.c_ulong(0)
    ptrace(PTRACE_GETEVENTMSG, tid, 0, ctypes.c_void_p(ctypes.addressof(out)))
    return int(out.value)


_INFO = ctypes.create_string_buffer(88)
_INFO_HEAD = struct.Struct("=B3xIQQ")  # op, arch, instruction pointer, stack pointer
_ENTRY = struct.Struct("=Q6Q")
_EXIT = struct.Struct("=qB")


def syscall_info(tid: int) -> tuple[int, int, tuple[int, ...]]:
    """``(op, nr, args)`` at an entry stop, ``(op, rval, ())`` at an exit stop (op 1/2, else 0)."""
    n = ptrace(PTRACE_GET_SYSCALL_INFO, tid, ctypes.sizeof(_INFO), ctypes.c_void_p(ctypes.addressof(_INFO)))
    raw = _INFO.raw[:n]
    op = raw[0]
    if op == SYSCALL_INFO_ENTRY:
        nr, *args = _ENTRY.unpack_from(raw, _INFO_HEAD.size)
        return op, nr, tuple(args)
    if op == SYSCALL_INFO_EXIT:
        rval, _is_error = _EXIT.unpack_from(raw, _INFO_HEAD.size)
        return op, rval, ()
    return op, 0, ()


def get_regs(tid: int) -> Regs:
    regs = Regs()
    ptrace(PTRACE_GETREGS, tid, 0, ctypes.c_void_p(ctypes.addressof(regs)))
    return regs


def set_regs(tid: int, regs: Regs) -> None:
    ptrace(PTRACE_SETREGS, tid, 0, ctypes.c_void_p(ctypes.addressof(regs)))


def skip_syscall(tid: int) -> None:
    """At an entry stop: the kernel will not run this system call (its exit stop still comes)."""
    regs = get_regs(tid)
    regs.orig_rax = (1 << 64) - 1
    set_regs(tid, regs)


def set_return(tid: int, value: int) -> None:
    """At an exit stop: the value the system call returns (``-errno`` for an error)."""
    regs = get_regs(tid)
    regs.rax = value & ((1 << 64) - 1)
    set_regs(tid, regs)


class Memory:
    """Reads a tracee's memory through ``/proc/PID/mem`` (one open file per address space)."""

    def __init__(self) -> None:
        self._fds: dict[int, int] = {}

    def forget(self, pid: int) -> None:
        fd = self._fds.pop(pid, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for pid in list(self._fds):
            self.forget(pid)

    def _fd(self, pid: int) -> int:
        fd = self._fds.get(pid)
        if fd is None:
            fd = self._fds[pid] = os.open(f"/proc/{pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        return fd

    def read(self, pid: int, addr: int, n: int) -> bytes:
        return os.pread(self._fd(pid), n, addr)

    def string(self, pid: int, addr: int, limit: int = 4096) -> bytes | None:
        """The NUL-terminated string at `addr` (None for NULL or an unreadable address)."""
        if addr == 0:
            return None
        out = b""
        try:
            while len(out) < limit:
                chunk = os.pread(self._fd(pid), min(4096 - (addr + len(out)) % 4096, limit - len(out)),
                                 addr + len(out))
                if not chunk:
                    return None
                end = chunk.find(b"\0")
                if end >= 0:
                    return out + chunk[:end]
                out += chunk
        except OSError:
            return None
        return out


# x86_64 system call numbers ------------------------------------------------------------------

NR = {
    "read": 0, "write": 1, "open": 2, "close": 3, "stat": 4, "fstat": 5, "lstat": 6, "pread64": 17,
    "pwrite64": 18, "readv": 19, "writev": 20, "access": 21, "sendfile": 40, "clone": 56, "fork": 57,
    "vfork": 58, "execve": 59, "truncate": 76, "ftruncate": 77, "getdents": 78, "chdir": 80,
    "rename": 82, "mkdir": 83, "rmdir": 84, "creat": 85, "link": 86, "unlink": 87, "symlink": 88,
    "readlink": 89, "chmod": 90, "chown": 92, "lchown": 94, "ptrace": 101, "utime": 132, "mknod": 133,
    "pivot_root": 155, "chroot": 161, "acct": 163, "mount": 165, "umount2": 166, "swapon": 167,
    "swapoff": 168, "reboot": 169, "init_module": 175, "delete_module": 176, "setxattr": 188,
    "lsetxattr": 189, "removexattr": 197, "lremovexattr": 198, "getdents64": 217, "utimes": 235,
    "kexec_load": 246, "openat": 257, "mkdirat": 258, "mknodat": 259, "fchownat": 260, "futimesat": 261,
    "newfstatat": 262, "unlinkat": 263, "renameat": 264, "linkat": 265, "symlinkat": 266,
    "readlinkat": 267, "fchmodat": 268, "faccessat": 269, "unshare": 272, "splice": 275, "utimensat": 280,
    "fallocate": 285, "preadv": 295, "pwritev": 296, "perf_event_open": 298, "fanotify_init": 300,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308, "process_vm_writev": 311,
    "finit_module": 313, "renameat2": 316, "kexec_file_load": 320, "bpf": 321, "execveat": 322,
    "copy_file_range": 326, "preadv2": 327, "pwritev2": 328, "statx": 332, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
    "fsconfig": 431, "fsmount": 432, "fspick": 433, "clone3": 435, "openat2": 437, "faccessat2": 439,
    "mount_setattr": 442, "fchmodat2": 452,
}
NAME = {v: k for k, v in NR.items()}

#: clone flags that would leave the sandbox's namespaces (new mount, user, pid, ... namespaces)
CLONE_NEW_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080
CLONE_THREAD = 0x00010000
