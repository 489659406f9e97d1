"""The public surface is exactly what is intended, and importing it is cheap."""

from __future__ import annotations

import subprocess
import sys

import raceproof

PUBLIC = {"Check", "CheckContext", "Execution", "ExploreResult",
          "InputError", "NondeterminismError", "RaceproofError", "SandboxViolation",
          "SchedFS", "ScenarioError", "TokenError", "UnknownNameError", "Violation", "__version__", "explore",
          "load_scenario", "replay", "verify"}


def test_all_is_the_intended_surface() -> None:
    assert set(raceproof.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(raceproof, name) is not None


def test_importing_raceproof_does_not_import_trio() -> None:
    code = "import sys, raceproof, raceproof.pytest_plugin; print('trio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_explore_is_the_function_whatever_was_imported_first() -> None:
    code = ("import raceproof.runs, raceproof.exploration\nfrom raceproof import explore\n"
            "print(callable(explore) and explore.__name__ == 'explore' and not hasattr(explore, '__path__'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_a_project_with_its_own_toolkit_package_runs_pytest(tmp_path) -> None:
    """The distribution installs one import name, ``raceproof``; a user's ``toolkit`` is theirs."""
    (tmp_path / "toolkit").mkdir()
    (tmp_path / "toolkit" / "__init__.py").write_text("MINE = True\n")
    (tmp_path / "test_mine.py").write_text(
        "import toolkit\n\n"
        "async def writer(fs):\n    await fs.write_file('/d/x', b'new')\n\n"
        "def test_uses_both(raceproof):\n"
        "    assert toolkit.MINE\n"
        "    raceproof.verify([writer, writer], setup={'/d/x': b'old'}, expect='safe')\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_the_fingerprint_covers_same_module_helpers_and_constants() -> None:
    """Editing a helper the program calls (or a constant it reads) in its module changes the digest."""
    from raceproof.fingerprint import fingerprint

    def digest(helper_body: str, constant: str) -> str:
        ns: dict[str, object] = {"__name__": "user_tests"}
        exec(f"LIMIT = {constant}\ndef helper(x):\n    return {helper_body}\n"
             "async def program(fs):\n    return helper(LIMIT)\n", ns)
        return fingerprint([ns["program"]], None, None)

    base = digest("x + 1", "3")
    assert digest("x + 1", "3") == base
    assert digest("x + 2", "3") != base
    assert digest("x + 1", "4") != base


def test_every_subpackage_is_listed_for_installation() -> None:
    """A subpackage missing from ``[tool.setuptools] packages`` works in an editable install and
    is silently absent from a wheel: every folder with an ``__init__.py`` must be listed."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for name, folder in config["package-dir"].items():
        for init in (root / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(root / folder)
            found.add(".".join([name, *rel.parts]))
    assert found - listed == set()
