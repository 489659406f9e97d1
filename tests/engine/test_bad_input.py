"""Bad input: one line on stderr naming the file and the field, exit code 2, never a traceback.
And the token codec: round trips, and garbage never raises anything but TokenError."""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import Any

import pytest
from engine_support import FIXED, INCIDENT, cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raceproof import token as tokens
from raceproof.errors import TokenError
from raceproof.scenario import load

GOOD = Path(INCIDENT).read_text()
PINNED = load(INCIDENT).token or ""


def _write(tmp_path: Path, text: str, name: str = "scenario.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _edit(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


def _assert_bad_input(proc: Any, *needles: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    [line] = lines
    for needle in needles:
        assert needle in line, line
    assert proc.stdout == ""
    return str(line)


SCENARIO_CASES = {
    "malformed-toml": (_edit('workers = 4', 'workers = '), ["malformed TOML"]),
    "unknown-key": (_edit('workers = 4', 'wokers = 4'), ["wokers", "did you mean 'workers'"]),
    "unknown-mount-key": (_edit('files = 1\n', 'fles = 1\n'), ["mounts[1].fles", "did you mean 'files'"]),
    "relative-mount": (_edit('path = "/home/user/.claude/skills/pdf"', 'path = "skills/pdf"'),
                       ["mounts[1].path", "must be absolute", "skills/pdf"]),
    "dotdot-mount": (_edit('path = "/home/user/.claude/skills/pdf"', 'path = "/home/user/.claude/../pdf"'),
                     ["mounts[1].path", "'..'"]),
    "trailing-slash": (_edit('path = "/home/user/.claude/skills/pdf"', 'path = "/home/user/.claude/skills/pdf/"'),
                       ["mounts[1].path", "must not end with '/'"]),
    "duplicate-mount": (_edit('path = "/home/user/.claude/skills/docx"', 'path = "/home/user/.claude/skills/pdf"'),
                        ["mounts[2].path", "duplicate", "mounts[1]"]),
    "bad-backend-key": (_edit('workers = 4', 'workers = 4\nbackend = "tmpfs"'), ["backend", "tmpfs"]),
    "bad-algorithm": (_edit('algorithm = "pre-cleanup"', 'algorithm = "precleanup"'),
                      ["algorithm", "did you mean 'pre-cleanup'"]),
    "bool-as-string": (_edit('workers = 4', 'workers = 4\nverify_digest = "no"'), ["verify_digest"]),
    "member-name-type": (_edit('files = 1\n', 'members = [{ name = 3 }]\n'), ["mounts[1].members[0].name"]),
    "bad-token-in-file": (_edit(PINNED, PINNED[:-6]), ["scenario.toml: token: "]),
}


#: the cases also run through a real subprocess (the rest run in-process through click's runner)
SUBPROCESS_CASES = {"malformed-toml", "unknown-key", "relative-mount", "dotdot-mount", "trailing-slash",
                    "duplicate-mount", "bad-token-in-file"}


def _in_process(*args: str) -> Any:
    from click.testing import CliRunner

    from raceproof.cli import main

    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return type("Proc", (), {"returncode": result.exit_code, "stdout": result.stdout, "stderr": result.stderr})


@pytest.mark.parametrize("case", sorted(SCENARIO_CASES))
def test_bad_scenario_is_one_line_exit_2(tmp_path: Path, case: str) -> None:
    text, needles = SCENARIO_CASES[case]
    path = _write(tmp_path, text)
    for command in ("replay", "verify"):  # both read scenarios the same way
        line = _assert_bad_input(_in_process(command, path), *needles)
        assert line.startswith(f"raceproof: error: {path}: ")
    if case in SUBPROCESS_CASES:
        assert _assert_bad_input(cli("replay", path), *needles) == line


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.toml")
    _assert_bad_input(cli("replay", path), path, "no such file")
    _assert_bad_input(cli("verify", path), path, "no such file")


@pytest.mark.parametrize(("case", "needles"), [
    ("another-scenario", ["another scenario", "digest"]),
    ("truncated", ["token"]),
    ("truncated-short", ["token"]),
    ("unsupported-version", ["unsupported version 9"]),
    ("not-a-token", ["not a raceproof token"]),
])
def test_bad_token(case: str, needles: list[str]) -> None:
    token = {
        "another-scenario": PINNED,  # the incident's token given to the fixed scenario
        "truncated": PINNED[:-3],
        "truncated-short": PINNED[: len(PINNED) // 2],
        "unsupported-version": "rp9" + PINNED[3:],
        "not-a-token": "hello",
    }[case]
    scenario = FIXED if case == "another-scenario" else INCIDENT
    line = _assert_bad_input(cli("replay", scenario, "--token", token), *needles)
    if case == "another-scenario":
        assert FIXED in line


def test_token_file(tmp_path: Path) -> None:
    path = tmp_path / "tok"
    path.write_text(PINNED[:-1] + "\n")
    _assert_bad_input(cli("replay", INCIDENT, "--token-file", str(path)), "checksum")
    _assert_bad_input(cli("replay", INCIDENT, "--token-file", str(tmp_path / "missing")), "missing")
    path.write_text(PINNED + "\n")
    assert cli("replay", INCIDENT, "--token-file", str(path)).returncode == 0


def test_unknown_strategy() -> None:
    _assert_bad_input(cli("verify", INCIDENT, "--strategy", "dpr"), "unknown strategy 'dpr'", "dpor")


def test_unknown_backend_option() -> None:
    _assert_bad_input(cli("replay", INCIDENT, "--backend", "tmpfs"), "backend", "tmpfs")


def test_unknown_backend_option_exit_code_and_no_traceback() -> None:
    proc = cli("replay", INCIDENT, "--backend", "tmpfs")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "tmpfs" in proc.stderr


# --------------------------------------------------------------------------------------------
# the token codec
# --------------------------------------------------------------------------------------------

HEX = st.text(alphabet="0123456789abcdef", min_size=1, max_size=16)
CHOICES = st.lists(st.integers(min_value=0, max_value=2**40), max_size=300)
SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


@settings(database=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(digest=HEX, choices=CHOICES)
def test_token_round_trip(digest: str, choices: list[int]) -> None:
    token = tokens.encode(digest, choices)
    assert SAFE.match(token), token                    # printable and shell-safe
    assert tokens.decode(token, digest) == choices
    assert tokens.decode(" " + token + "\n") == choices
    with pytest.raises(TokenError):
        tokens.decode(token, digest + "0")             # another scenario
    for cut in {1, 5, len(token) // 2, len(token) - 1}:
        with pytest.raises(TokenError):
            tokens.decode(token[:cut], digest)         # truncated anywhere


def _decode_or_token_error(text: str) -> None:
    try:
        out = tokens.decode(text)
    except TokenError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(out, list) and all(isinstance(v, int) and v >= 0 for v in out)


@settings(database=None, max_examples=200)
@given(st.text())
def test_token_garbage_text(text: str) -> None:
    _decode_or_token_error(text)


@settings(database=None, max_examples=300)
@given(st.text(alphabet="rp1.-_=abcdef0123456789\u00b2\u0661ABCxyz", max_size=60))
def test_token_garbage_near_the_format(text: str) -> None:
    _decode_or_token_error(text)


@settings(database=None, max_examples=300)
@given(digest=HEX, payload=st.binary(max_size=64), junk=st.text(max_size=20))
def test_token_valid_checksum_over_garbage_payload(digest: str, payload: bytes, junk: str) -> None:
    """A token whose checksum is right but whose choice list is garbage (or a bomb) still fails cleanly."""
    import base64

    for body_payload in (base64.urlsafe_b64encode(payload).decode().rstrip("="), junk.replace(".", "")):
        body = f"rp1.{digest}.{body_payload}"
        _decode_or_token_error(f"{body}.{zlib.crc32(body.encode()):08x}")


def test_token_decompression_bomb_is_refused() -> None:
    import base64

    payload = base64.urlsafe_b64encode(zlib.compress(b"\x00" * (64 << 20), 9)).decode().rstrip("=")
    body = f"rp1.abc.{payload}"
    with pytest.raises(TokenError):
        tokens.decode(f"{body}.{zlib.crc32(body.encode()):08x}")


def test_unicode_digit_version_is_not_a_crash() -> None:
    for head in ("rp\u00b2", "rp\u0661", "rp1\u0663"):
        with pytest.raises(TokenError):
            tokens.decode(head + ".abc.-.00000000")
