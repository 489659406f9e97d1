"""The syscall-gated driver: one execution of a real program, one file system step at a time.

Design (read with ``raceproof.scheduler``, whose baton this mirrors for real threads):

- The program runs under ptrace with ``PTRACE_SYSCALL``: every thread stops at the entry and the
  exit of every system call. Threads are numbered in creation order (the first is 0); creation is
  made deterministic by holding every ``clone``/``fork`` at its entry until the program is quiet and
  releasing them one at a time, lowest number first (not a choice).
- At an entry the call is decoded (``raceproof.exec.syscalls``) and its paths resolved in the
  program's view (``raceproof.exec.sandbox``). A call that touches the sandbox is a *step*: the thread
  stays stopped there (*gated*). Anything else runs at once, ungated; a change outside the sandbox,
  a mount/namespace call or a path through a ``/proc`` magic link is refused (``-EPERM``, reported).
- The program is *quiet* when every live thread is gated, held at a clone, or blocked inside an
  ungated system call (state ``S`` in ``/proc/TID/stat``: a futex, a pipe, a wait). Only then does the
  chooser pick one gated thread; its call runs, alone, and the thread runs on until it stops again.
  So a thread blocked on a lock (futex) that a gated thread holds is never waited for, and never
  chosen: it is not enabled, and it wakes only when the holder, once chosen, releases the lock (the
  wake-up is synchronous, so the woken thread is running, not sleeping, when quietness is checked
  again). A thread asleep on a *timeout* (``nanosleep``, a timed futex) wakes on its own: such
  programs are outside the determinism guarantee (a replay that diverges says so).
- One step is one system call, except a run of ``readlink`` calls (and ``faccessat2`` for a trailing
  slash), which is glibc's ``realpath``: one ``realpath`` step, as the model and the fidelity mapping
  have it (the thread's next ``readlink`` of a one-component path starts a new one).
- Footprints follow ``raceproof.fs.vfs``: the sandbox entries a lookup read, the entry a call created
  or removed (and its parent's entry set), the directory a ``getdents64``/``rmdir`` listed, and file
  contents by a schedule-independent file id (set-up path, or creating thread and count).
"""

from __future__ import annotations

import contextlib
import errno as E
import functools
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from raceproof.errors import InternalError
from raceproof.exec import ptrace
from raceproof.exec.sandbox import WRITABLE_DEVICES, Sandbox
from raceproof.exec.syscalls import AT_FDCWD, CLONES, REFUSED, Call, decode
from raceproof.scheduler import ABORT, Chooser
from raceproof.steps import Footprint, StepEvent

#: seconds one execution may take before the driver kills it (a hang is reported, never a pass)
DEFAULT_TIMEOUT = 30.0
_SYSGOOD = signal.SIGTRAP | 0x80

RUN, ENTRY, GATED, CLONE, INSYS, GRANTED, DONE = "run", "entry", "gated", "clone", "insys", "granted", "done"


@dataclass
class _Thread:
    tid: int
    num: int
    tgid: int
    state: str = RUN
    nr: int = -1
    args: tuple[int, ...] = ()
    call: Call | None = None
    refuse: str | None = None  # set: this call was skipped; its exit returns -EPERM
    steps: int = 0
    realpath_open: bool = False  # its last step is a readlink run that may continue
    last_abs_link: bool = False
    created: int = 0  # files/dirs it created (for schedule-independent file ids)


@dataclass
class _Open:
    """The step being executed (and its continuation calls)."""

    thread: int
    op: str
    path: str
    enabled: tuple[int, ...]
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    lists: set[str] = field(default_factory=set)
    touches: set[str] = field(default_factory=set)
    result: str = "ok"
    errno: int | None = None
    detail: str = ""


@dataclass
class Refusal:
    thread: int
    call: str
    path: str
    reason: str


@dataclass
class RunRecord:
    """What one traced execution did."""

    trace: list[StepEvent]
    choices: list[int]
    threads: int
    exit_code: int | None
    signal: int | None
    stdout: str
    stderr: str
    refusals: list[Refusal]
    aborted: bool = False
    hang: str | None = None
    tree: dict[str, str] = field(default_factory=dict)
    syscalls: int = 0


class Driver:
    """Runs `argv` under the gate, in `sandbox`, once per ``run(chooser)``."""

    def __init__(self, argv: Sequence[str], sandbox: Sandbox, *, env: dict[str, str] | None = None,
                 timeout: float = DEFAULT_TIMEOUT, max_steps: int = 100_000) -> None:
        self.argv = list(argv)
        self.sandbox = sandbox
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        self.timeout = timeout
        self.max_steps = max_steps

    # one execution ---------------------------------------------------------------------------
    def run(self, chooser: Chooser) -> RunRecord:
        self.chooser = chooser
        self.sees_forced = chooser.sees_forced
        self.threads: dict[int, _Thread] = {}
        self.order: list[_Thread] = []
        self.early: set[int] = set()  # new threads that stopped before their parent's clone event
        self.trace: list[StepEvent] = []
        self.choices: list[int] = []
        self.refusals: list[Refusal] = []
        self.open: _Open | None = None
        self.granted: _Thread | None = None
        self.ids: dict[int, str] = {}
        self.aborted = False
        self.hang: str | None = None
        self.syscalls = 0
        self.mem = ptrace.Memory()
        self.root_status: tuple[int | None, int | None] = (None, None)
        self.sandbox.prepare()
        self._name_setup_files()
        out = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
        err = tempfile.TemporaryFile()  # noqa: SIM115
        timer: threading.Timer | None = None
        try:
            proc = subprocess.Popen(self.argv, preexec_fn=self.sandbox.child_setup, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, env=self.env)
            self.root = proc.pid
            timer = threading.Timer(self.timeout, self._on_timeout)
            timer.daemon = True
            timer.start()
            try:
                self._attach(proc.pid)
                self._loop()
            finally:
                self._kill_all()
                proc.returncode = -1 if self.root_status == (None, None) else 0  # reaped here, not by Popen
            self._close_open()
            out.seek(0)
            err.seek(0)
            code, sig = self.root_status
            return RunRecord(self.trace, self.choices, len(self.order), code, sig,
                             out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                             self.refusals, self.aborted, self.hang, self.sandbox.tree() if not self.aborted else {},
                             self.syscalls)
        finally:
            if timer is not None:
                timer.cancel()
            self.mem.close()
            out.close()
            err.close()
            self.sandbox.cleanup()

    def _name_setup_files(self) -> None:
        root = self.sandbox.host_root
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                st = os.lstat(os.path.join(dirpath, name))
                self.ids[st.st_ino] = "s" + self.sandbox.mp + os.path.join(dirpath, name)[len(root):]

    def _on_timeout(self) -> None:
        self.hang = f"the program did not finish within {self.timeout:g} s (killed)"
        for t in list(self.threads.values()):
            with contextlib.suppress(OSError):
                os.kill(t.tid, signal.SIGKILL)

    def _kill_all(self) -> None:
        """Kill every traced process and reap every thread: no zombie, no tracee left stopped."""
        alive = [t for t in self.threads.values() if t.state != DONE]
        for t in alive:
            with contextlib.suppress(OSError):
                os.kill(t.tid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while any(t.state != DONE for t in self.threads.values()) and time.monotonic() < deadline:
            try:
                tid, status = os.waitpid(-1, ptrace.WALL)
            except ChildProcessError:
                break
            self._gone(tid, status)
        for t in self.threads.values():
            t.state = DONE

    def _attach(self, pid: int) -> None:
        _, status = os.waitpid(pid, ptrace.WALL)
        if not os.WIFSTOPPED(status):
            raise InternalError(f"the traced program did not stop at exec (status {status:#x})")
        ptrace.set_options(pid)
        self._new_thread(pid, pid)
        ptrace.resume(pid)

    def _new_thread(self, tid: int, tgid: int) -> _Thread:
        t = _Thread(tid, len(self.order), tgid)
        self.threads[tid] = t
        self.order.append(t)
        return t

    # the loop --------------------------------------------------------------------------------
    def _loop(self) -> None:
        idle = 0.0
        while True:
            if self._drain(block=False):
                idle = 0.0
                continue
            if self.granted is None and self._classify():
                continue
            live = [t for t in self.order if t.state != DONE]
            if not live:
                return
            if self.hang is not None:
                return
            if any(t.state in (RUN, GRANTED) for t in live) or (self.granted is not None):
                self._drain(block=True)
                continue
            busy = [t for t in live if t.state == INSYS and not _sleeping(t.tid)]
            if busy:
                time.sleep(idle)
                idle = min(idle * 2 + 0.00005, 0.002)
                continue
            # quiet: every live thread is gated, held at a clone, or blocked
            held = [t for t in live if t.state == CLONE]
            if held:
                t = held[0]
                t.state = INSYS
                ptrace.resume(t.tid)
                continue
            self._close_open()
            enabled = tuple(t.num for t in live if t.state == GATED)
            if not enabled:
                # every live thread is blocked outside the sandbox: wait (a timed sleep ends on its own);
                # the execution's timeout reports a real deadlock
                time.sleep(idle)
                idle = min(idle * 2 + 0.0001, 0.005)
                continue
            if len(self.trace) >= self.max_steps:
                self.hang = f"the program exceeded the step budget of {self.max_steps} steps"
                return
            chosen = enabled[0]
            if len(enabled) > 1 or self.sees_forced:
                chosen = self.chooser.choose(enabled, self.trace)
                if chosen == ABORT:
                    self.aborted = True
                    return
                if chosen not in enabled:
                    raise InternalError(f"strategy chose thread {chosen}, not enabled in {enabled}")
            if len(enabled) > 1:
                self.choices.append(chosen)
            self._grant(self.order[chosen], enabled)

    def _drain(self, *, block: bool) -> bool:
        """Handle one wait status (blocking if asked); False when there was none."""
        try:
            tid, status = os.waitpid(-1, ptrace.WALL | (0 if block else os.WNOHANG))
        except ChildProcessError:
            for gone in self.order:
                gone.state = DONE
            return False
        except InterruptedError:
            return True
        if tid == 0:
            return False
        t = self.threads.get(tid)
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            self._gone(tid, status)
            return True
        if t is None:  # a new thread's first stop, before its parent's clone event
            self.early.add(tid)
            return True
        sig = os.WSTOPSIG(status)
        event = status >> 16
        if event:
            if event in (ptrace.EVENT_CLONE, ptrace.EVENT_FORK, ptrace.EVENT_VFORK):
                child = ptrace.event_msg(tid)
                tgid = _tgid(child) or (t.tgid if event == ptrace.EVENT_CLONE else child)
                self._new_thread(child, tgid)
                if child in self.early:
                    self.early.discard(child)
                    ptrace.resume(child)
            elif event == ptrace.EVENT_EXEC:
                self.mem.forget(t.tgid)
            ptrace.resume(tid)
            return True
        if sig == _SYSGOOD:
            try:
                self._syscall_stop(t)
            except ProcessLookupError:  # killed while stopped (a sibling's exit_group): its exit comes next
                pass
            return True
        if sig == signal.SIGSTOP and t.state == RUN and t.steps == 0 and t.nr < 0:
            ptrace.resume(tid)  # a new thread's initial stop
            return True
        ptrace.resume(tid, sig)  # any other signal: deliver it
        return True

    def _gone(self, tid: int, status: int) -> None:
        t = self.threads.get(tid)
        if tid == getattr(self, "root", -1):
            if os.WIFEXITED(status):
                self.root_status = (os.WEXITSTATUS(status), None)
            elif os.WIFSIGNALED(status):
                self.root_status = (None, os.WTERMSIG(status))
        if t is None or not (os.WIFEXITED(status) or os.WIFSIGNALED(status)):
            return
        if self.granted is t:
            self.granted = None
        t.state = DONE

    def _syscall_stop(self, t: _Thread) -> None:
        op, nr_or_rval, args = ptrace.syscall_info(t.tid)
        if op == ptrace.SYSCALL_INFO_ENTRY:
            self.syscalls += 1
            t.nr, t.args, t.call, t.refuse = nr_or_rval, args, None, None
            t.state = ENTRY
            return
        # exit
        rval = nr_or_rval
        if t.refuse is not None:
            ptrace.set_return(t.tid, -E.EPERM)
            rval = -E.EPERM
        if self.granted is t:
            self.granted = None
            self._finish(t, rval)
        elif t.state == GRANTED:
            self._finish(t, rval)
        t.state = RUN
        t.nr = -1
        ptrace.resume(t.tid)

    # classification --------------------------------------------------------------------------
    def _classify(self) -> bool:
        """Decide every thread stopped at an entry: run it ungated, hold it, or gate it."""
        progressed = False
        for t in self.order:
            if t.state != ENTRY:
                continue
            progressed = True
            nr = t.nr
            if nr in REFUSED:
                self._refuse(t, ptrace.NAME.get(nr, str(nr)), "", "system call refused in the sandbox")
                continue
            if nr in CLONES:
                flags = t.args[0] if nr == ptrace.NR["clone"] else self._clone3_flags(t)
                if nr in (ptrace.NR["clone"], ptrace.NR["clone3"]) and flags & ptrace.CLONE_NEW_FLAGS:
                    self._refuse(t, ptrace.NAME[nr], "", "new namespaces are refused in the sandbox")
                else:
                    t.state = CLONE
                continue
            call = decode(nr, t.args, functools.partial(self.mem.string, t.tgid))
            if call is None:
                self._ungated(t)
                continue
            t.call = call
            verdict = self._judge(t, call)
            if verdict == "ungated":
                self._ungated(t)
            elif verdict.startswith("refuse:"):
                self._refuse(t, call.name, self._shown_path(t, call), verdict[7:])
            elif self._continues(t, call):
                self._start_call(t, call, continuation=True)
            else:
                t.state = GATED
        return progressed

    def _clone3_flags(self, t: _Thread) -> int:
        try:
            raw = self.mem.read(t.tgid, t.args[0], 8)
        except OSError:
            return 0
        return int.from_bytes(raw.ljust(8, b"\0"), "little")

    def _ungated(self, t: _Thread) -> None:
        t.state = INSYS
        ptrace.resume(t.tid)

    def _refuse(self, t: _Thread, name: str, path: str, reason: str) -> None:
        self.refusals.append(Refusal(t.num, name, path, reason))
        t.refuse = reason
        ptrace.skip_syscall(t.tid)
        t.state = INSYS
        ptrace.resume(t.tid)

    def _base(self, t: _Thread, dirfd: int) -> str | None:
        link = f"/proc/{t.tid}/cwd" if dirfd == AT_FDCWD else f"/proc/{t.tid}/fd/{dirfd}"
        try:
            return os.readlink(link)
        except OSError:
            return None

    def _abs(self, t: _Thread, dirfd: int, path: str) -> str | None:
        if path.startswith("/"):
            return path
        base = self._base(t, dirfd)
        if base is None or not base.startswith("/"):
            return None
        base = base.removesuffix(" (deleted)")
        return base.rstrip("/") + "/" + path if path else base

    def _fd_target(self, t: _Thread, fd: int) -> tuple[str, os.stat_result] | None:
        """The sandbox path and stat of an open fd, or None if it is not in the sandbox."""
        try:
            target = os.readlink(f"/proc/{t.tid}/fd/{fd}")
        except OSError:
            return None
        if not target.startswith("/"):
            return None
        target = target.removesuffix(" (deleted)")
        if not self.sandbox.inside(target):
            return None
        try:
            st = os.stat(f"/proc/{t.tid}/fd/{fd}")
        except OSError:
            return None
        return target, st

    def _shown_path(self, t: _Thread, call: Call) -> str:
        if call.paths:
            dirfd, path = call.paths[-1]
            return self._abs(t, dirfd, path) or path
        return ""

    def _judge(self, t: _Thread, call: Call, *, at_grant: bool = False) -> str:
        """``gated`` (a step), ``ungated``, or ``refuse:<reason>``. A call that touches the sandbox is
        a step even when it is to be refused (its lookups are reads): it is refused when granted."""
        if call.fd is not None and not call.paths:
            target = self._fd_target(t, call.fd)
            if target is None:
                return "ungated"
            import stat as S

            if call.op in ("read", "write", "close") and not S.S_ISREG(target[1].st_mode):
                return "ungated"  # a directory fd's close/read: not a step (fdopendir internals)
            return "gated"
        touched = False
        refusal = ""
        for dirfd, path in call.paths:
            full = self._abs(t, dirfd, path)
            if full is None:
                return "refuse:a path relative to an fd the driver cannot see"
            res = self.sandbox.resolve(full, follow=call.follow, tgid=t.tgid, tid=t.tid)
            if res.magic and call.op not in ("realpath", "lstat"):
                refusal = refusal or "refuse:a path through a /proc magic link (fd, cwd, root)"
            if res.touched:
                touched = True
            if call.mutating and not self.sandbox.inside(res.final) and res.final not in WRITABLE_DEVICES:
                if call.op == "link" and (dirfd, path) == call.paths[0]:
                    continue  # a link's source is only read
                refusal = refusal or f"refuse:a change outside the sandbox ({res.final})"  # a symlink out too
        if refusal and (at_grant or not touched):
            return refusal
        return "gated" if touched else "ungated"

    def _continues(self, t: _Thread, call: Call) -> bool:
        """Whether `call` continues `t`'s open step (the readlink run of one realpath)."""
        if not (t.realpath_open and self.open is not None and self.open.thread == t.num):
            return False
        if call.name == "faccessat2":
            return True
        if call.name != "readlink":
            return False
        dirfd, path = call.paths[0] if call.paths else (AT_FDCWD, "")
        full = self._abs(t, dirfd, path) or ""
        depth = len([c for c in full.split("/") if c])
        return depth > 1 or t.last_abs_link

    # steps -----------------------------------------------------------------------------------
    def _grant(self, t: _Thread, enabled: tuple[int, ...]) -> None:
        call = t.call
        assert call is not None
        verdict = self._judge(t, call, at_grant=True)  # again: the tree may have changed since it stopped
        self.open = _Open(t.num, call.op, self._shown_path(t, call), enabled)
        t.steps += 1
        t.realpath_open = call.op == "realpath"
        t.last_abs_link = False
        if verdict.startswith("refuse:"):
            self._refuse(t, call.name, self.open.path, verdict[7:])
            self.open.result, self.open.errno = "-1 EPERM", E.EPERM
            return
        self._start_call(t, call, continuation=False)

    def _start_call(self, t: _Thread, call: Call, *, continuation: bool) -> None:
        """Record what the call looks at before it runs, then let it run (alone)."""
        o = self.open
        assert o is not None
        pre: list[tuple[str, str | None, int]] = []
        for dirfd, path in call.paths:
            full = self._abs(t, dirfd, path) or path
            last = (dirfd, path) == call.paths[-1]
            res = self.sandbox.resolve(full, follow=call.follow if last else False, tgid=t.tgid, tid=t.tid)
            o.reads.update(res.reads)
            if self.sandbox.inside(res.final) and res.error is None:
                o.reads.add("e:" + res.final)
            pre.append((res.final, res.kind, res.ino))
            if continuation:
                o.path = full
        if call.fd is not None and not call.paths:
            target = self._fd_target(t, call.fd)
            if target is not None:
                path, st = target
                o.path = path
                fid = self._fid(st.st_ino)
                if call.op == "read":
                    o.reads.add("c:" + fid)
                elif call.op == "write":
                    o.writes.add("c:" + fid)
                elif call.op == "readdir":
                    res = self.sandbox.resolve(path, follow=False)
                    o.reads.update(res.reads)
                    o.lists.add(path)
                pre.append((path, "dir" if call.op == "readdir" else "file", st.st_ino))
        if call.op == "rmdir" and pre:
            o.lists.add(pre[-1][0])
        if call.op == "rename":
            for final, kind, _ in pre:
                if kind == "dir":
                    o.lists.add(final)
        self._pre = pre
        t.state = GRANTED
        self.granted = t
        ptrace.resume(t.tid)

    def _fid(self, ino: int) -> str:
        return self.ids.get(ino) or f"?{ino}"

    def _finish(self, t: _Thread, rval: int) -> None:
        """The granted call returned `rval`: its result and what it changed join the open step."""
        o = self.open
        call = t.call
        if o is None or call is None:
            return
        pre = self._pre
        ok = rval >= 0
        if call.op == "realpath" and call.name == "readlink":
            # a link read: glibc restarts from "/" after an absolute target
            if ok and rval > 0:
                try:
                    target = self.mem.read(t.tgid, t.args[1] if call.paths and t.nr == ptrace.NR["readlink"]
                                           else t.args[2], min(rval, 4096))
                except OSError:
                    target = b""
                t.last_abs_link = target.startswith(b"/")
            else:
                t.last_abs_link = False
            if not ok and -rval != E.EINVAL and o.errno is None:
                o.result, o.errno = f"-1 {_errname(-rval)}", -rval
            return
        if not ok:
            if o.errno is None:
                o.result, o.errno = f"-1 {_errname(-rval)}", -rval
            return
        final, kind, _ino = pre[-1] if pre else ("", None, 0)
        inside = self.sandbox.inside(final)
        if call.op in ("mkdir", "symlink", "link") and inside:
            o.writes.add("e:" + final)
            o.touches.add(_parent(final))
            self._name_created(t, final)
        elif call.op in ("rmdir", "unlink") and inside:
            o.writes.add("e:" + final)
            o.touches.add(_parent(final))
        elif call.op == "rename":
            for f, _k, _i in pre:
                if self.sandbox.inside(f):
                    o.writes.add("e:" + f)
                    o.touches.add(_parent(f))
        elif call.op == "open" and inside:
            try:
                st = os.stat(f"/proc/{t.tid}/fd/{rval}")
                ino = st.st_ino
            except OSError:
                ino = 0
            if kind is None:
                o.writes.add("e:" + final)
                o.touches.add(_parent(final))
                self.ids[ino] = f"{t.num}.{t.created}"
                t.created += 1
            if call.write_content:
                o.writes.add("c:" + self._fid(ino))
        elif call.op in ("stat", "lstat", "is_dir", "chmod", "utimes", "chown", "setxattr") and inside:
            if kind == "file" and call.op != "is_dir":
                o.reads.add("c:" + self._fid(_ino))
            if call.op in ("lstat", "stat"):
                o.result = kind or "ok"
            elif call.op == "is_dir":
                o.result = "true" if kind == "dir" else "false"
        elif call.op == "truncate" and inside:
            o.writes.add("c:" + self._fid(_ino))
        elif call.op == "readdir":
            names = self._dirents(t, rval)
            o.result = "[" + ", ".join(names) + "]"

    def _name_created(self, t: _Thread, final: str) -> None:
        try:
            st = os.lstat(self.sandbox.host(final))
        except OSError:
            return
        self.ids[st.st_ino] = f"{t.num}.{t.created}"
        t.created += 1

    def _dirents(self, t: _Thread, n: int) -> list[str]:
        if n <= 0 or t.call is None:
            return []
        try:
            buf = self.mem.read(t.tgid, t.call.buf, n)
        except OSError:
            return []
        names, off = [], 0
        while off + 19 <= len(buf):
            reclen = int.from_bytes(buf[off + 16:off + 18], "little")
            if reclen == 0:
                break
            name = buf[off + 19:off + reclen].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            if name not in (".", ".."):
                names.append(name)
            off += reclen
        return names

    def _close_open(self) -> None:
        o = self.open
        if o is None:
            return
        self.open = None
        t = self.order[o.thread]
        t.realpath_open = False
        fp = Footprint(frozenset(o.reads), frozenset(o.writes), frozenset(o.lists), frozenset(o.touches))
        self.trace.append(StepEvent(len(self.trace), o.thread, o.op, o.path, o.result, o.errno, fp, o.enabled,
                                    o.detail))


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def _errname(code: int) -> str:
    return E.errorcode.get(code, str(code))


def _tgid(tid: int) -> int | None:
    try:
        with open(f"/proc/{tid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"Tgid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _sleeping(tid: int) -> bool:
    """Whether thread `tid` is asleep in the kernel (``S``): blocked in its system call."""
    try:
        with open(f"/proc/{tid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return True  # gone: its exit status is on its way
    return data[data.rfind(b")") + 2:][:1] == b"S"
