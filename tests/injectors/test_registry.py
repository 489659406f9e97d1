"""The injector registry, spec parsing, parameter validation and the CLI surface."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import scenario

from raceproof.cli import main
from raceproof.errors import InputError, ScenarioError, UnknownNameError
from raceproof.inject import REGISTRY, build_injectors, injector_class, parse_spec
from raceproof.runs import program_for


def test_parse_spec() -> None:
    assert parse_spec("errno:errno=EIO,at_most=2") == ("errno", {"errno": "EIO", "at_most": "2"})
    assert parse_spec("crash") == ("crash", {})
    with pytest.raises(InputError, match="not PARAM=VALUE"):
        parse_spec("errno:EIO")
    with pytest.raises(InputError, match="missing injector name"):
        parse_spec(":x=1")


def test_every_registered_injector_loads_and_describes_itself() -> None:
    for name in REGISTRY:
        cls = injector_class(name)
        assert cls.name == name
        assert cls.description and "\n" not in cls.description
        cls(0)  # the defaults are valid


def test_unknown_injector_lists_known_and_closest() -> None:
    with pytest.raises(UnknownNameError) as info:
        build_injectors(scenario(), ["erno:errno=EIO"])
    msg = str(info.value)
    assert "'erno'" in msg and "Did you mean 'errno'?" in msg and "crash" in msg


@pytest.mark.parametrize(("spec", "fragment"), [
    ("errno:errno=EIOO", "parameter 'errno': must be one of"),
    ("errno:at_most=-1", "parameter 'at_most': must be between 0 and 4"),
    ("errno:at_most=x", "parameter 'at_most': must be int"),
    ("errno:at_mots=1", "parameter 'at_mots': unknown parameter; did you mean 'at_most'?"),
    ("errno:nth=2", "parameter 'nth': needs thread="),
    ("truncate:at=middle", "parameter 'at': must be one of entry, header, data"),
])
def test_bad_cli_params_name_injector_and_parameter(spec: str, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        build_injectors(scenario(), [spec])
    assert fragment in str(info.value)
    assert spec.split(":")[0] in str(info.value)


def test_bad_scenario_table_names_the_field() -> None:
    sc = scenario(inject=[{"name": "crash"}, {"name": "errno", "errno": 5}])
    with pytest.raises(ScenarioError) as info:
        build_injectors(sc)
    assert "<test>: inject[1].errno: injector 'errno': must be str" in str(info.value)
    with pytest.raises(ScenarioError, match=r"inject\[0\]\.name: unknown injector 'crsh'.*did you mean 'crash'"):
        build_injectors(scenario(inject=[{"name": "crsh"}]))


def test_scenario_tables_then_cli_specs() -> None:
    injs = build_injectors(scenario(inject=[{"name": "crash"}]), ["errno:errno=ENOSPC"])
    assert [i.name for i in injs] == ["crash", "errno"]
    assert [i.label for i in injs] == ["crash#0", "errno#1"]


def test_cli_specs_change_the_program_digest() -> None:
    sc = scenario()
    assert program_for(sc).digest == sc.digest
    assert program_for(sc, ["errno:errno=EIO"]).digest != sc.digest
    assert program_for(sc, ["errno:errno=EIO"]).digest != program_for(sc, ["errno:errno=EACCES"]).digest


def test_core_does_not_import_injectors() -> None:
    code = ("import sys, raceproof.inject, raceproof.runs, raceproof.cli; "
            "print(any(m.startswith('injectors') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_injectors_command_lists_everything() -> None:
    res = CliRunner().invoke(main, ["injectors", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert {r["name"] for r in rows} == set(REGISTRY)
    errno_row = next(r for r in rows if r["name"] == "errno")
    assert {p["name"] for p in errno_row["params"]} >= {"errno", "at_most", "thread", "nth", "step"}
    res = CliRunner().invoke(main, ["injectors"])
    assert res.exit_code == 0
    for name in REGISTRY:
        assert name in res.output


def test_cli_inject_bad_name_is_exit_2(tmp_path: object) -> None:
    res = CliRunner().invoke(main, ["replay", "scenarios/chaos-eio.toml", "--inject", "nope"])
    assert res.exit_code == 2
    assert "unknown injector 'nope'" in res.output
