"""Mount-set rows on a Dask cluster (``--dask ADDRESS``): a LocalCluster stands for the cluster."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from raceproof import scenario
from raceproof.errors import InputError
from raceproof.mountsets import mount_set_rows

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

BUGGY = "scenarios/guest-download-2026-04-10.toml"


@pytest.fixture(scope="module")
def cluster():  # type: ignore[no-untyped-def]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as c:
        yield c


def test_rows_on_a_cluster_are_those_of_a_serial_run(cluster) -> None:  # type: ignore[no-untyped-def]
    base = scenario.load(BUGGY)
    serial = mount_set_rows(base, 2, workers=(1, 2, 3))
    remote = mount_set_rows(base, 2, workers=(1, 2, 3), dask=cluster.scheduler_address)
    assert remote.rows == serial.rows
    assert any(r["verdict"] == "unsafe" and r["token"] for r in remote.rows)


def test_the_cli_takes_a_scheduler_address(cluster) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.run([sys.executable, "-m", "raceproof", "verify", BUGGY, "--mount-sets", "2", "--json",
                           "--dask", cluster.scheduler_address], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    local = subprocess.run([sys.executable, "-m", "raceproof", "verify", BUGGY, "--mount-sets", "2", "--json",
                            "--jobs", "1"], capture_output=True, text=True, check=False)
    assert json.loads(proc.stdout)["rows"] == json.loads(local.stdout)["rows"]


def test_an_unreachable_scheduler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("raceproof.mountsets.DASK_CONNECT_TIMEOUT", "1s")
    with pytest.raises(InputError, match="cannot reach a Dask scheduler"):
        mount_set_rows(scenario.load(BUGGY), 1, workers=(1,), dask="tcp://127.0.0.1:9")
