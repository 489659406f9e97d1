"""Archive contents for scenarios: listed explicitly, or generated deterministically with Faker."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from raceproof.models.tar import Member


@lru_cache(maxsize=1)
def _faker() -> Any:
    from faker import Faker  # costs ~50 ms: once per process

    return Faker()


def generate(seed: int, files: int, flavor: str = "skill") -> list[Member]:
    """`files` file members with seeded names and contents (same seed, same bytes)."""
    fake = _faker()
    fake.seed_instance(seed)
    members: list[Member] = []
    names: set[str] = set()
    first = "SKILL.md" if flavor == "skill" else "CLAUDE.md"
    for i in range(files):
        if i == 0:
            name = first
        else:
            name = f"{fake.word()}/{fake.word()}.{fake.file_extension(category='text')}" if i % 2 else \
                f"{fake.word()}.md"
        while name in names:
            name = f"{fake.word()}-{i}.txt"
        names.add(name)
        members.append(Member(name, "file", fake.sentence(nb_words=6).encode()))
    return members
