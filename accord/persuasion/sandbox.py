"""Run untrusted generated code in a subprocess with time and memory limits (the HumanEval check).

The program runs in a fresh `python -I` (isolated: no user site, no PYTHON* variables) in an empty temporary
directory, with an empty environment, stdin closed, and POSIX resource limits: address space (`memory_mb`),
CPU seconds, file size and number of processes. A wall-clock timeout kills it. This is a guard against
accidents (infinite loops, memory blow-ups, stray files), not a security boundary against a hostile model:
run untrusted receivers in a container.

    passed = run_program("assert 1 + 1 == 2", timeout=5.0, memory_mb=512)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path


def _limits(memory_mb: int, cpu_seconds: int):
    def apply():
        import resource

        memory = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
        resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))
    return apply


def run_program(source: str, timeout: float = 10.0, memory_mb: int = 1024) -> bool:
    """True when `source` runs to completion with exit status 0 within the limits."""
    with tempfile.TemporaryDirectory(prefix="accord-sandbox-") as folder:
        path = Path(folder) / "program.py"
        path.write_text(source)
        try:
            done = subprocess.run([sys.executable, "-I", str(path)], cwd=folder, env={}, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout,
                                  preexec_fn=_limits(memory_mb, int(timeout) + 1))
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0
