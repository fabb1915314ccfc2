"""The local run as a process of its own: started, its output drained, waited for, and stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def serving(
    command: list[str], cwd: Path, environment: dict[str, str], wait_seconds: float = 180
) -> Iterator[list[str]]:
    """Run ``command`` (the local run, or `make local`) until it says "serving on"; yield its output lines,
    which keep arriving; stop it and whatever it started (its own process group) afterwards."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read_output() -> None:  # drained all along, so the server never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("serving on"):
                ready.set()
        ready.set()

    threading.Thread(target=read_output, daemon=True).start()
    try:
        ready.wait(timeout=wait_seconds)  # a deadline against hanging, not a speed requirement
        assert process.poll() is None and any(line.startswith("serving on") for line in lines), "".join(lines)
        yield lines
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
