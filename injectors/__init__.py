"""Fault injectors, one small module per family; found by name via ``raceproof.inject_registry.REGISTRY``."""
