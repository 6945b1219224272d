#!/usr/bin/env python3
"""Runs `pip install -v ...` for servekit and shows what it is doing instead of
going quiet for the ten minutes a first build takes on two cores: what is
being built, progress through the compile steps, and the time taken. The whole
output goes to build/pip-install.log; on failure its last lines are printed.

    scripts/build_with_progress.py python3 -m pip install -v ... .
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

LOG = Path("build/pip-install.log")
STEP = re.compile(r"^\s*\[(\d+)/(\d+)\] ")  # ninja's progress prefix (pip indents it)
REPORT_EVERY_SECONDS = 20


def main(command: list[str]) -> int:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    print(
        "servekit: building the C++ engine and its Python extension with CMake + Ninja "
        "(a first build takes about 10 minutes on 2 cores; later builds compile only what changed); "
        f"full output in {LOG}",
        flush=True,
    )
    start = time.monotonic()
    last_report, last_percent = start, -1
    tail: deque[str] = deque(maxlen=60)
    with (
        LOG.open("w") as log,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as process,
    ):
        for line in process.stdout:
            log.write(line)
            tail.append(line)
            match = STEP.match(line)
            if not match:
                continue
            done, total = int(match.group(1)), int(match.group(2))
            if done == 0:  # "[0/2] Re-checking globbed directories"
                continue
            percent = 100 * done // total
            now = time.monotonic()
            # A line every 10% or every REPORT_EVERY_SECONDS, whichever comes first.
            if percent // 10 > last_percent // 10 or now - last_report >= REPORT_EVERY_SECONDS:
                print(f"servekit: compiled {done}/{total} ({percent}%) after {now - start:.0f} s", flush=True)
                last_report, last_percent = now, percent
    elapsed = time.monotonic() - start
    if process.returncode != 0:
        print("".join(tail), end="", file=sys.stderr)
        print(
            f"servekit: the build failed after {elapsed:.0f} s (exit {process.returncode}); see {LOG}", file=sys.stderr
        )
        return process.returncode
    print(f"servekit: built and installed in {elapsed:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
