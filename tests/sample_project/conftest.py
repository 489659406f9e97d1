"""The sample project is a separate project: raceproof's suite runs it through pytester
(tests/reports/test_sample_project.py), because one of its tests fails on purpose. Run it by hand
with ``pytest tests/sample_project/test_installer.py`` (an explicit path is not ignored)."""

collect_ignore = ["test_installer.py"]
