"""The incident model: pinned schedules for each failure mode, the fix under the same schedules,
``raceproof replay`` on every backend, and the Rust/tar-rs semantics the model relies on.

The tokens below were found by exploring the incident scenario (random walks and DPOR, then a
hand-shortened thread sequence) and are pinned as regression schedules: each test re-runs the
schedule and checks *what happened*, so a change to the model that loses a failure mode fails here.
If the scenario digest changes (mounts, archives, model version), re-pin them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from engine_support import BACKENDS, FIXED, INCIDENT, cli, run_choosers, trace_rows

from raceproof import token as tokens
from raceproof.execution import Execution, Runner
from raceproof.exploration import FunctionProgram
from raceproof.fs import Vfs
from raceproof.runs import replay, verify
from raceproof.scenario import load, parse
from raceproof.sfs import SchedFS
from raceproof.shrink import SequenceChooser
from raceproof.strategies.replay import ReplayChooser

PINNED = {
    # pdf creates its destination; .claude's remove_dir_all deletes it; pdf's canonicalize: ENOENT
    "incident": "rp1.cc2e5b83b3ac.eNodiAEKADAQgsz-_-d1MyTQHO1pZNeSTfpbAjofBhgAQQ.cb20c6be",
    # every skill finishes, then .claude's remove_dir_all deletes their files: no error at all
    "silent-loss": "rp1.cc2e5b83b3ac.eNoViIEJAAAMgir__3kuIjEwLYnTle3Li_8SdLkDBxgATw.e76f7e5f",
    # pdf's create_dir_all adds .claude/skills after .claude's walk read .claude: rmdir ENOTEMPTY
    "parent-enotempty": "rp1.cc2e5b83b3ac.eNpjZGRkZGAAIhBgZGJiYmCCAwABZwAh.ad245bdb",
}


def _roots() -> list[str]:
    return [m.path for m in load(INCIDENT).mounts]


def is_incident(ex: Execution) -> bool:
    """The first violation is a skills worker's canonicalize (realpath) of its own destination
    failing with ENOENT, after the .claude worker's remove_dir_all removed that directory."""
    roots = _roots()
    if not ex.violations or ex.violations[0].check != "no-worker-error":
        return False
    v = ex.violations[0]
    tid = ex.names.index(v.thread)
    assert v.step is not None
    return (tid > 0 and "/skills/" in roots[tid] and v.op == "realpath" and v.errno == "ENOENT"
            and v.path == roots[tid]
            and any(e.thread == 0 and e.op == "rmdir" and e.path == roots[tid] and e.result == "ok"
                    for e in ex.trace[:v.step]))


def is_silent_loss(ex: Execution) -> bool:
    return (not any(v.check == "no-worker-error" for v in ex.violations)
            and any(v.check == "final-tree" and v.message.startswith("silent loss") for v in ex.violations)
            and all(r.error is None for r in ex.results))


def is_parent_enotempty(ex: Execution) -> bool:
    errs = [v for v in ex.violations if v.check == "no-worker-error"]
    return any(v.thread == ex.names[0] and v.op == "rmdir" and v.errno == "ENOTEMPTY" and v.path == _roots()[0]
               and ex.trace[v.step or 0].result == "-1 ENOTEMPTY" for v in errs)


CHECKS = {"incident": is_incident, "silent-loss": is_silent_loss, "parent-enotempty": is_parent_enotempty}


def _run_token(path: str, token: str, *, lenient: bool = False, backend: str = "memory") -> Execution:
    scenario = load(path)
    program = scenario.program()
    digest = None if lenient else program.digest
    choices = tokens.decode(token, digest)
    [ex] = run_choosers(program, backend, [lambda: ReplayChooser(choices, lenient=lenient)])
    return ex


@pytest.mark.parametrize("mode", sorted(PINNED))
def test_pinned_schedule_reaches_its_failure_mode(mode: str) -> None:
    ex = _run_token(INCIDENT, PINNED[mode])
    assert CHECKS[mode](ex), [v.to_json() for v in ex.violations]
    # and only that one of the three (they are distinct behaviours)
    assert [m for m, check in CHECKS.items() if check(ex)] == [mode]
    # replaying it again re-records the very same token
    assert tokens.encode(load(INCIDENT).digest, ex.choices) == PINNED[mode]


@pytest.mark.parametrize("mode", sorted(PINNED))
def test_fixed_algorithm_passes_under_the_same_schedule(mode: str) -> None:
    ex = _run_token(FIXED, PINNED[mode], lenient=True)
    assert ex.violations == []
    assert all(r.error is None for r in ex.results)
    # the schedule did apply: more than one thread ran before the first one finished
    first_four = {e.thread for e in ex.trace[:12]}
    assert len(first_four) > 1 or mode == "silent-loss"


def test_scenario_pins_the_incident() -> None:
    scenario = load(INCIDENT)
    assert scenario.token == PINNED["incident"]
    rr = replay(scenario)
    assert rr.schedule_source.startswith("pinned token")
    assert rr.verdict == "fail" == rr.expected
    assert is_incident(rr.execution)
    failing = rr.execution.trace[rr.execution.violations[0].step or 0]
    assert (failing.op, failing.result) == ("realpath", "-1 ENOENT")


def test_the_fix_is_proved_safe() -> None:
    good = verify(load(FIXED), shrink=False)
    assert good.result.verdict == "safe" and good.result.complete


def test_incident_is_found_by_random_search() -> None:
    bad = verify(load(INCIDENT), strategy="random", max_executions=200, shrink=False)
    assert bad.result.verdict == "unsafe"
    assert bad.result.counterexample is not None


@pytest.mark.slow
def test_incident_is_found_by_dpor() -> None:
    bad = verify(load(INCIDENT), shrink=True)
    assert bad.result.verdict == "unsafe"
    assert bad.result.counterexample is not None


def _normalize(text: str, backend: str) -> str:
    return text.replace(f" --backend {backend}", "").replace(f"backend   {backend}", "backend   X")


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_replay_reproduces_the_incident(backend: str) -> None:
    outputs = set()
    for _ in range(2):
        proc = cli("replay", "scenarios/guest-download-2026-04-10.toml", "--backend", backend)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        outputs.add(_normalize(proc.stdout, backend))
    [out] = outputs
    assert re.search(r"^>> +\d+ +\.claude/skills/\w+ +realpath\(\"/home/user/\.claude/skills/\w+\"\) = -1 ENOENT$",
                     out, re.M), out
    assert "verdict   FAIL (expected: fail)" in out
    assert f"replay    raceproof replay scenarios/guest-download-2026-04-10.toml --token {PINNED['incident']}" in out
    reference = cli("replay", "scenarios/guest-download-2026-04-10.toml")
    assert _normalize(reference.stdout, "memory") == out


@pytest.mark.slow
def test_replay_100_times_identical_on_every_backend() -> None:
    outs = set()
    for backend in BACKENDS:
        for _ in range(100):
            data = replay(load(INCIDENT), backend=backend).to_json()
            assert data["verdict"] == "fail"
            del data["backend"], data["replay_command"]
            outs.add(json.dumps(data, sort_keys=True))
        for _ in range(5):
            proc = cli("replay", "scenarios/guest-download-2026-04-10.toml", "--backend", backend)
            assert proc.returncode == 0
    assert len(outs) == 1


# --------------------------------------------------------------------------------------------
# remove_dir_all / create_dir_all semantics (Rust std, SEMANTICS-AND-FAULTS.md §1.1-1.2)
# --------------------------------------------------------------------------------------------


def _run_seq(bodies: list[Any], setup: Any, seq: list[int], backend: str = "memory") -> Execution:
    [ex] = run_choosers(FunctionProgram(bodies, setup=setup), backend, [lambda: SequenceChooser(seq)])
    return ex


def _setup_p(vfs: Vfs) -> None:
    vfs.put("/p/c/f", b"old")


@pytest.mark.parametrize("backend", BACKENDS)
def test_remove_dir_all_walk_is_fd_relative(backend: str) -> None:
    """A directory the walk opened, then removed and re-created by a sibling, is dead to the walk:
    its readdir is empty and the final unlinkat by name meets the new, non-empty directory."""

    async def parent(fs: SchedFS) -> None:
        await fs.remove_dir_all("/p")

    async def child(fs: SchedFS) -> None:
        await fs.remove_dir_all("/p/c")
        await fs.create_dir_all("/p/c")
        await fs.write_file("/p/c/new", b"new")

    # parent: lstat, opendir /p, readdir /p, opendir /p/c; child: everything; parent: the rest
    ex = _run_seq([parent, child], _setup_p, [0] * 4 + [1] * 10)
    rows = [(e.thread, e.op, e.path, e.result) for e in ex.trace if e.thread == 0]
    assert rows[4:] == [(0, "readdir", "/p/c", "[]"), (0, "rmdir", "/p/c", "-1 ENOTEMPTY")]
    assert ex.results[0].error is not None and ex.results[0].error.errno == 39
    assert ex.tree["/p/c/new"] == "file:" + b"new".hex()


@pytest.mark.parametrize(("tolerant", "error"), [(True, None), (False, "FileNotFoundError")])
def test_remove_dir_all_root_removed_during_walk(tolerant: bool, error: str | None) -> None:
    """Root vanishes after opendir: Rust >= 1.82 ignores the final NotFound; older toolchains fail."""
    from raceproof.models.rust_fs import remove_dir_all

    async def walker(fs: SchedFS) -> None:
        await remove_dir_all(fs, "/p", tolerate_enoent=tolerant)

    async def other(fs: SchedFS) -> None:
        await fs.rmdir("/p")

    ex = _run_seq([walker, other], lambda v: v.makedirs("/p"), [0, 0, 1])
    assert trace_rows(ex) == [(0, "lstat", "/p", "dir"), (0, "opendir", "/p", "ok"), (1, "rmdir", "/p", "ok"),
                              (0, "readdir", "/p", "[]"), (0, "rmdir", "/p", "-1 ENOENT")]
    got = ex.results[0].error
    assert (type(got).__name__ if got else None) == error


@pytest.mark.parametrize(("setup", "errno", "tree_after"), [
    (lambda v: None, "ENOENT", {}),
    (lambda v: v.put("/p", b"f"), "ENOTDIR", {"/p": "file:66"}),
    (lambda v: (v.put("/t/keep", b"k"), v.symlink("/t", "/p")), None, {"/t": "dir", "/t/keep": "file:6b"}),
])
def test_remove_dir_all_root_cases(setup: Any, errno: str | None, tree_after: dict[str, str]) -> None:
    async def walker(fs: SchedFS) -> None:
        await fs.remove_dir_all("/p")

    [ex] = run_choosers(FunctionProgram([walker], setup=setup), "memory", [lambda: SequenceChooser([])])
    err = ex.results[0].error
    assert (None if err is None else ex.trace[ex.results[0].failed_step or 0].result) == \
        (None if errno is None else f"-1 {errno}")
    assert ex.tree == tree_after


def test_create_dir_all_tolerates_a_creator_not_a_deleter() -> None:
    async def maker(fs: SchedFS) -> None:
        await fs.create_dir_all("/a/b/c")

    async def deleter(fs: SchedFS) -> None:
        await fs.rmdir("/a/b")

    # maker: mkdir c ENOENT, mkdir b ENOENT, mkdir a ok, mkdir b ok; deleter: rmdir b; maker: mkdir c
    ex = _run_seq([maker, deleter], lambda v: None, [0, 0, 0, 0, 1, 0])
    assert ex.trace[-1].op in ("mkdir", "is_dir")
    assert ex.results[0].error is not None and ex.results[0].error.errno == 2
    twice = _run_seq([maker, maker], lambda v: None, [0, 0, 0, 1, 1, 1, 1, 0])
    assert all(r.error is None for r in twice.results)
    assert twice.tree == {"/a": "dir", "/a/b": "dir", "/a/b/c": "dir"}


# --------------------------------------------------------------------------------------------
# the tar-rs model (§1.5)
# --------------------------------------------------------------------------------------------


def _one_mount(members: list[dict[str, str]]) -> Any:
    return parse({"name": "t", "algorithm": "fixed", "workers": 1,
                  "mounts": [{"path": "/home/user/d", "members": members}]}, "t.toml")


def test_tar_defers_directories_sorted_by_raw_path_bytes() -> None:
    scenario = _one_mount([{"name": "dir1/", "kind": "dir"}, {"name": "dir1-x/", "kind": "dir"},
                           {"name": "f", "data": "x"}])
    ex = replay(scenario).execution
    mkdirs = [e.path for e in ex.trace if e.op == "mkdir" and e.path.startswith("/home/user/d/")]
    # reverse byte order of "dir1/" and "dir1-x/": '/' (0x2f) > '-' (0x2d)
    assert mkdirs == ["/home/user/d/dir1", "/home/user/d/dir1-x"]
    assert ex.violations == []


def test_tar_hard_links_and_the_final_tree_check() -> None:
    scenario = _one_mount([{"name": "b.txt", "data": "B"},
                           {"name": "z/link-to-b", "kind": "hardlink", "target": "b.txt"},
                           {"name": "a-link", "kind": "hardlink", "target": "b.txt"}])
    ex = replay(scenario).execution
    assert ex.violations == []
    assert ex.tree["/home/user/d/a-link"] == "file:42"
    assert ex.tree["/home/user/d/b.txt"] == ex.tree["/home/user/d/z/link-to-b"] == "hardlink:/home/user/d/a-link"


@pytest.mark.parametrize(("member", "op"), [
    ({"name": "bad", "kind": "hardlink", "target": "/etc/passwd"}, "realpath"),   # validated: refused
    ({"name": "bad", "kind": "hardlink", "target": "missing"}, "realpath"),       # canonicalize ENOENT
    ({"name": "bad", "kind": "symlink", "target": ""}, None),                     # empty destination
])
def test_tar_refuses_bad_links(member: dict[str, str], op: str | None) -> None:
    ex = replay(_one_mount([{"name": "a", "data": "A"}, member])).execution
    [v] = [v for v in ex.violations if v.check == "no-worker-error"]
    assert not any(e.op == "link" for e in ex.trace)
    if op is not None:
        assert (v.op, v.errno) == (op, "ENOENT")
    assert "/home/user/d/bad" not in ex.tree


def test_tar_skips_dotdot_and_reroots_absolute_names() -> None:
    ex = replay(_one_mount([{"name": "../evil", "data": "x"}, {"name": "/abs/f", "data": "y"},
                            {"name": "./ok", "data": "z"}])).execution
    assert ex.violations == []
    assert "/home/user/evil" not in ex.tree
    assert ex.tree["/home/user/d/abs/f"] == "file:79"
    assert ex.tree["/home/user/d/ok"] == "file:7a"


def test_tar_stale_file_where_a_directory_is_needed_and_overwrite() -> None:
    def stale(vfs: Vfs) -> None:
        vfs.put("/home/user/d/sub", b"stale file")
        vfs.put("/home/user/d/f", b"old")

    scenario = _one_mount([{"name": "f", "data": "new"}, {"name": "sub/x", "data": "x"}])
    program = scenario.program()
    program.setup = lambda v, _s=program.setup: (_s(v), stale(v))  # type: ignore[method-assign]
    with Runner(program, "memory") as runner:
        ex = runner.run_single(SequenceChooser([]))
    assert ex.tree["/home/user/d/f"] == "file:" + b"new".hex()   # create_new, EEXIST, unlink, again
    err = ex.results[0].error
    assert err is not None and err.errno == 20                  # ENOTDIR under the stale file
