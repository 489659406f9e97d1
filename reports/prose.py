"""The report's prose: what the model covers (limitations), the human placeholders, and the
sentences built from a verdict (what a proof covers, when failure was certain)."""

from __future__ import annotations

import json
from typing import Any

LIMITATIONS = {
    "modelled": [
        "Each filesystem system call (mkdir, rmdir, unlink, open, write, close, lstat, opendir, readdir, "
        "rename, realpath, ...) is one atomic step and one scheduling point; composite operations are walks "
        "of these steps.",
        "Rust std semantics (1.95, Linux) for create_dir_all, remove_dir_all (lazy no-follow walk, ENOENT below "
        "the root tolerated) and canonicalize.",
        "Symlinks (resolved component by component, chroot-style inside the sandbox) and hard links.",
        "Every interleaving of the virtual threads up to equivalence (optimal DPOR): two steps are dependent "
        "when their footprints (directory entries, entry sets, file contents) conflict.",
    ],
    "simplified": [
        "realpath/canonicalize is one step, not a walk: a component removed during the kernel's walk is "
        "either fully before or fully after it.",
        "Downloads are one thread-local step; their content is the scenario's archive (unless an injector changes it).",
        "Directory listings are in name order; ext4 and tmpfs return hash order, which is not explored "
        "(tests/fidelity runs the model in the real order and finds the same steps).",
        "A directory is read by one getdents batch however large; the kernel fills a 32 KiB buffer "
        "(about a thousand names) per call.",
        "A write copies at most one 4 KiB page per step and a read returns what is there at that step; "
        "page-cache effects below that are not modelled.",
        "tar-rs: GNU sparse entries are not ported; a metadata header cut short at the end of an archive "
        "fails with another message than tar-rs (both are archive errors).",
    ],
    "not_modelled": [
        "fsync, crashes and persistence: no power loss or page-cache model (unless a crash injector is used).",
        "Permissions, ownership and quotas: the model runs as root; EACCES/EPERM/ENOSPC never happen on their own.",
        "Other processes touching the tree, and network or overlay filesystem semantics (rename atomicity, "
        "stale handles).",
        "Timing: only the order of steps matters; no real time, timeouts or retries are modelled.",
    ],
}

PLACEHOLDER = "TODO (human): "


def certain_text(
    certain: int | None,
    failing: int | None,
    steps: list[dict[str, Any]],
    violations: list[dict[str, Any]],
    searched: bool = True,
) -> str:
    if certain is not None and not searched:
        return (
            f"Failure was certain after S{certain} ({call(steps[certain])}) at the latest: that step ends the "
            "failed worker's run, and the check rejects a worker's error in every continuation (an upper bound; "
            "the prefix search is run for the shrunk counterexample)."
        )
    if certain is not None:
        return (
            f"Every continuation of the first {certain + 1} steps fails: failure was certain after "
            f"S{certain} ({call(steps[certain])})."
        )
    text = "Not established within the search budget of the prefix analysis."
    if failing is not None and any(
        v.get("check") == "no-worker-error" and v.get("step") == failing for v in violations
    ):
        text += (
            f" At the latest it is certain at S{failing} itself: that step's error ends its worker, "
            "which the no-worker-error check rejects in every continuation."
        )
    return text


def call(st: dict[str, Any]) -> str:
    return f"{st['thread']} {st['op']}({st['path']}) = {st['result']}"


def proof_scope(entry: dict[str, Any], scenario: Any) -> dict[str, Any]:
    """What a proof covers and what it does not, from the scenario (shown next to the badge)."""
    mounts = [m.path for m in scenario.mounts]
    n, w = len(mounts), scenario.workers
    ex = entry["exploration"]
    covers = [
        f"Mount set: exactly these {n} mount(s) with their archives: {', '.join(mounts)}.",
        (
            f"Workers: {w}, one job each (every mount extracted by its own thread at once)."
            if w >= n
            else f"Workers: {w} sharing a queue of {n} jobs (which worker takes which job is explored)."
        ),
        "Faults: "
        + (
            "none injected (every filesystem call behaves as the model says)."
            if not scenario.inject
            else "; ".join(json.dumps(i, sort_keys=True, default=str) for i in scenario.inject)
            + " (every placement the injector allows)."
        ),
        "Initial tree: "
        + (
            ", ".join(
                [f"{d}/" for d in sorted(scenario.initial_dirs)]
                + sorted(scenario.initial_files)
                + [f"{k} -> {v}" for k, v in sorted(scenario.initial_links.items())]
            )
            or "empty"
        )
        + ".",
        f"Schedules: every interleaving up to equivalence ({ex['strategy']}, {ex['executions']} executions, "
        f"{ex['equivalence_classes']} equivalence classes; search complete), on the {entry['scenario']['backend']} "
        "backend.",
    ]
    not_covered = [
        f"Other mount sets (deeper nesting, siblings, more or fewer mounts): `raceproof verify "
        f"{scenario.file} --mount-sets 4` checks every topology up to 4 mounts for 1..4 workers.",
        f"Other worker counts than {w}" + (" (a shared job queue with fewer workers than mounts)." if w >= n else "."),
    ]
    if not scenario.inject:
        not_covered.append(
            "Faults: I/O errors, a full disk, truncated or corrupt archives, crashes and reruns, and a reused VM "
            "with stale files (keep-alive): see `raceproof injectors` and the chaos-* scenarios."
        )
    not_covered += [
        "Any other initial tree, such as leftovers of a previous run.",
        "The real binary, kernel and filesystem: the proof is about the model of the algorithm (see Limitations).",
    ]
    return {"variant": entry["id"], "covers": covers, "not_covered": not_covered}
