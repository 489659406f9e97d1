"""Real programs under the scheduler: a ptrace driver that gates every file system call touching a
sandbox and releases them one at a time, chosen by raceproof's strategies (``raceproof exec``).

Modules: ``ptrace`` (the ctypes binding), ``syscalls`` (which calls are steps), ``sandbox`` (the
private tree the program sees at the scenario's paths), ``driver`` (one execution), ``runner``
(executions for the strategies, the incident binary, the checks), ``command`` (the CLI).
"""
