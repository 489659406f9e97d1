"""Fault injection's public names in one place (old import path): each lives in a module of its own.

- ``raceproof.injector``: the ``Injector`` Protocol and ``BaseInjector`` (the hooks, in order);
- ``raceproof.inject_params``: ``Param``, ``ParamError``, path and op-list parameters;
- ``raceproof.inject_registry``: ``REGISTRY``, ``build_injectors``, ``--inject`` specs, ``describe``;
- ``raceproof.faulted``: ``judge_faulted``, re-judging an execution in which a fault fired;
- ``raceproof.placements``: ``explore_placements``, every placement of the faults, each with DPOR.
"""

from __future__ import annotations

from raceproof.faulted import judge_faulted
from raceproof.inject_params import FS_OPS, Param, ParamError, check_path_param, parse_ops
from raceproof.inject_registry import (
    REGISTRY,
    build_injectors,
    describe,
    injector_class,
    make,
    param_error,
    parse_spec,
    specs_digest,
)
from raceproof.injector import BaseInjector, Injector
from raceproof.placements import PinnedChooser, PinnedStrategy, PlacementResult, explore_placements

__all__ = ["FS_OPS", "REGISTRY", "BaseInjector", "Injector", "Param", "ParamError", "PinnedChooser",
           "PinnedStrategy", "PlacementResult", "build_injectors", "check_path_param", "describe",
           "explore_placements", "injector_class", "judge_faulted", "make", "param_error", "parse_ops",
           "parse_spec", "specs_digest"]
