"""Keep-alive: cleaning the previous session's files before extracting, without the race.

The postmortem's follow-up (#8757): a reused VM holds the previous session's tree under the mount
roots. The candidates of SEMANTICS-AND-FAULTS.md §2.3 are built-in algorithms over the scheduled
filesystem (``candidates``), run by a pool with phases (``pipeline``), judged by the properties
P1-P5 (``raceproof.properties``) on every previous-session tree of a small alphabet (``stale``),
and compared in a matrix (``compare``).
"""

from __future__ import annotations

from raceproof.keepalive.candidates import CANDIDATES, Candidate
from raceproof.keepalive.pipeline import STATE_DIR, KeepalivePipeline

__all__ = ["CANDIDATES", "STATE_DIR", "Candidate", "KeepalivePipeline"]
