"""What the wire benchmarks share: the machine line, ports, starting and stopping
servers (each in its own process group, always on 127.0.0.1), wrk, and the CPU
time a server's process tree has used."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import resource
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def machine_description() -> str:
    """CPU model, cores this process may use, kernel and load: the line every table starts with."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{model}, {usable} cores usable ({os.cpu_count()} online), Linux {platform.release()}, "
        f"load average at start {load}"
    )


def print_header(title: str) -> None:
    """The machine and the exact command, before anything runs."""
    import servekit  # the installed build, whatever the source tree holds

    print(f"# {title}")
    print(f"machine: {machine_description()}")
    print(f"command: {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"servekit {servekit.__version__} from {Path(servekit.__file__).parent}")
    print("(load generator and server share this machine; a busy machine, e.g. a build, skews every row)\n", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextlib.contextmanager
def server_process(command: list[str], cwd: Path | None = None, env: dict | None = None):
    """Starts `command` in its own process group and, on the way out, stops the
    whole group (uvicorn and gunicorn fork workers): SIGTERM, then SIGKILL after 30 s."""
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        # Workers that outlive their parent still belong to the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def servekit_command(flags: list[str]) -> list[str]:
    """servekit-server from the installed package, as `python -m servekit.cli` (one process)."""
    return [sys.executable, "-m", "servekit.cli", "--bind_address=127.0.0.1", *flags]


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by `pid` and every live descendant
    (uvicorn's and gunicorn's workers are children of their supervisor)."""
    total = 0
    for p in _descendants(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def connections_per_worker(pid: int, port: int) -> list[int]:
    """How many established connections on `port` each worker under `pid`
    holds, most first: whether a multi-worker server's accept() spread the
    load generator's connections over its workers. A worker is a process
    that listens on `port`; a supervisor that listens too but has listening
    children (uvicorn's) is not counted."""
    wanted = f"{port:04X}"
    listening, established = set(), set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[1].rsplit(":", 1)[1] != wanted:
                    continue
                {"0A": listening, "01": established}.get(fields[3], set()).add(fields[9])
    counts = {}
    for p in _descendants(pid):
        inodes = set()
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{p}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
        if inodes & listening:
            counts[p] = len(inodes & established)
    if len(counts) > 1:
        counts.pop(pid, None)
    return sorted(counts.values(), reverse=True)


def measured(pid: int, run, seconds: float) -> dict:
    """run() with the server's CPU time per request added as server_us: what a
    request costs the server, whatever the load generator costs."""
    before = cpu_seconds(pid)
    result = run()
    count = result.get("requests") or result["rps"] * seconds
    result["server_us"] = (cpu_seconds(pid) - before) / max(1.0, count) * 1e6
    return result


def own_cpu_seconds(who: int) -> float:
    """User + system CPU seconds of resource.RUSAGE_SELF or RUSAGE_CHILDREN (reaped children)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def load_generator(command: list[str], timeout: float) -> tuple[str, float]:
    """Runs a load generator to its end: its stdout and the CPU seconds it used.
    The load generator shares the server's cores, so what a request costs it is
    CPU the server cannot have. The children reaped while it runs are the load
    generator alone: the servers under test are reaped when they stop, after
    their rows."""
    before = own_cpu_seconds(resource.RUSAGE_CHILDREN)
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=timeout).stdout
    return out, own_cpu_seconds(resource.RUSAGE_CHILDREN) - before


def wrk(url: str, connections: int, seconds: float, body: str | None, workdir: Path) -> dict:
    """Runs wrk with one thread (the other core is the server's) and parses its report."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s"]
    if body is not None:
        script = workdir / "post.lua"
        script.write_text(
            f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = {json.dumps(body)}\n'
        )
        args += ["-s", str(script)]
    out, client_seconds = load_generator([*args, url], timeout=seconds + 60)

    def latency_ms(percent: str) -> float:
        value, unit = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    total = re.search(r"(\d+) requests in", out)
    requests_done = int(total.group(1)) if total else 0
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "requests": requests_done,
        "client_us": client_seconds / max(1, requests_done) * 1e6,
        "p50": latency_ms("50"),
        "p99": latency_ms("99"),
        "bad": int(errors.group(1)) if errors else 0,
        # "connect 0, read 0, write 0, timeout 0": wrk prints the line only when one is not 0.
        "socket_errors": sum(map(int, re.findall(r"\d+", socket_errors.group(1)))) if socket_errors else 0,
    }


def print_wrk_table(rows) -> None:
    """The table of wrk runs: rows of (server label, connections, wrk() result)."""
    print(
        "\n| server | connections | requests/s | p50 ms | p99 ms | server CPU µs/req | wrk CPU µs/req "
        "| non-2xx | socket errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, connections, r in rows:
        print(
            f"| {label} | {connections} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} "
            f"| {r['server_us']:,.0f} | {r['client_us']:,.1f} | {r['bad']} | {r['socket_errors']} |"
        )
