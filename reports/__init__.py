"""Postmortem verification reports: one JSON document (``raceproof.reports.model``) rendered as Markdown,
self-contained HTML and JUnit XML; the ``raceproof report`` command lives in ``raceproof.reports.command``."""
