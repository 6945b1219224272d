"""Where servekit-server's CPU goes per request: `perf record -g` on the server
process while a bounded load runs against it on loopback, then perf's own
report (self time, entries >= 1%) and the same split as microseconds of
server CPU per request.

By default it starts its own servekit-server (127.0.0.1, the MNIST MLP
784-128-10 from bench_models.py), drives predict at batch 1 with the same body
as rest_bench.py (wrk, REST) or with a pre-framed PredictRequest (h2load,
gRPC), records the server for --seconds after a 1 s warm-up, stops the load
and the server, and prints:
  - the server's CPU µs per request over the recorded window (from /proc),
  - perf report --no-children --sort pid (one line per thread: hand-offs show here),
  - perf report --no-children --sort dso (kernel/TCP, libc, libstdc++, _core, ...),
  - perf report --no-children --percent-limit 1 --stdio (symbols),
each entry also as µs per request. --callchains adds perf's call graphs.

    python bench/profile_server.py [--seconds 10] [--connections 16] [--transport rest|grpc]
                                   [--body decimals|tolist]
                                   [--call-graph fp|dwarf] [--keep DIR] [--callchains]
    python bench/profile_server.py --pid PID --url http://127.0.0.1:8501/v1/models/NAME:predict
        (attach to a server already running an MNIST-shaped model: 784 float inputs)

Needs perf (linux-perf) and the right to sample another process: root, or
kernel.perf_event_paranoid <= 1 for one's own processes. Hardware cycle
counters are often missing in VMs; the script then samples cpu-clock (a
software timer), which is what it reports: kernel time spent with interrupts
off then lands on the place they come back on (_raw_spin_unlock_irqrestore
and the like), so read those kernel entries as "the kernel's network and
scheduling path", not as lock contention. Symbols: _core's exported names
resolve; a stripped build shows its hidden functions as addresses in _core.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

import servekit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_harness import (  # noqa: E402
    cpu_seconds,
    free_port,
    print_header,
    servekit_command,
    server_process,
    wait_until_up,
)
from bench_models import mnist_mlp  # noqa: E402

WARMUP_SECONDS = 1.0


def check_perf() -> str:
    """The event to sample, after checking perf can sample here; exits with the reason if it cannot."""
    perf = shutil.which("perf")
    if perf is None:
        sys.exit("perf is not installed (Debian: linux-perf)")
    paranoid = Path("/proc/sys/kernel/perf_event_paranoid").read_text().strip()
    root = os.geteuid() == 0
    print(
        f"perf: {perf}; kernel.perf_event_paranoid={paranoid}; running as {'root' if root else f'uid {os.geteuid()}'}"
    )
    if not root and int(paranoid) > 1:
        sys.exit(
            f"perf_event_paranoid={paranoid} forbids sampling without root: run as root, or "
            "`sysctl kernel.perf_event_paranoid=1`"
        )
    stat = subprocess.run(["perf", "stat", "-x,", "-e", "cycles", "--", "true"], capture_output=True, text=True)
    event = "cycles" if stat.returncode == 0 and "<not supported>" not in stat.stderr else "cpu-clock"
    with tempfile.TemporaryDirectory() as tmp:
        probe = subprocess.run(
            ["perf", "record", "-q", "-e", event, "-g", "-o", f"{tmp}/probe.data", "--", "true"],
            capture_output=True,
            text=True,
        )
    if probe.returncode != 0:
        sys.exit(f"perf record does not work here:\n{probe.stderr.strip()}")
    note = "" if event == "cycles" else " (no hardware cycle counter in this machine: software timer samples)"
    print(f"perf samples: {event}{note}")
    return event


def start_load(transport: str, target: str, connections: int, duration: int, body: Path, work: Path):
    """The load generator, already running for `duration` seconds (one thread, loopback)."""
    if transport == "rest":
        script = work / "post.lua"
        script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(body.read_text())}\n"
        )
        command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(script), target]
    else:
        command = [
            "h2load",
            f"-c{connections}",
            "-m1",
            "-t1",
            f"-D{duration}",
            "-d",
            str(body),
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            target,
        ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def load_rate(transport: str, out: str) -> float:
    pattern = r"Requests/sec:\s+([\d.]+)" if transport == "rest" else r"finished in [\d.]+s, ([\d.]+) req/s"
    match = re.search(pattern, out)
    if match is None:
        sys.exit(f"could not read the load generator's rate from:\n{out}")
    return float(match.group(1))


def served(metrics_url: str, api: str) -> int | None:
    """Requests the server has answered on `api` so far (any model, any status), from
    its Prometheus counter; None if the metrics cannot be read."""
    try:
        text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    except OSError:
        return None
    pattern = re.compile(r"^servekit_requests_total\{([^}]*)\} (\S+)$", re.M)
    return int(sum(float(m.group(2)) for m in pattern.finditer(text) if f'api="{api}"' in m.group(1)))


def report(data: Path, sort: str, us_per_request: float | None, callchains: bool = False) -> None:
    """perf report's entries (>= 1% self time), each also as µs of server CPU per request."""
    command = ["perf", "report", "-i", str(data), "--no-children", "--percent-limit", "1", "--stdio"]
    if sort:
        command += ["--sort", sort]
    if not callchains:
        command += ["-g", "none"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    print(f"\n$ {' '.join(command)}")
    for line in out.splitlines():
        if line.startswith("#") and "Samples" not in line and "Overhead" not in line and "Event count" not in line:
            continue
        match = re.match(r"^\s+([\d.]+)%", line)
        if match and us_per_request is not None:
            line = f"{float(match.group(1)) * us_per_request / 100:8.1f} µs  {line}"
        elif line.strip() and "Overhead" in line and us_per_request is not None:
            line = f"{'µs/req':>8}    {line}"
        if line.strip() and line.strip() != "#":
            print(line.rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="recorded time under load (after a 1 s warm-up)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--transport", choices=["rest", "grpc"], default="rest")
    parser.add_argument(
        "--body",
        choices=["decimals", "tolist"],
        default="decimals",
        help="REST body: 4 decimals per value (rest_bench.py's) or json.dumps of a float32 array's tolist()",
    )
    parser.add_argument("--call-graph", choices=["fp", "dwarf"], default="fp", help="perf's call-graph method")
    parser.add_argument("--frequency", type=int, default=999, help="samples per second per CPU")
    parser.add_argument("--callchains", action="store_true", help="print perf's call graphs under each symbol")
    parser.add_argument("--keep", type=Path, default=None, help="copy perf.data into this directory")
    parser.add_argument("--pid", type=int, default=None, help="profile this running server instead of starting one")
    parser.add_argument("--url", default=None, help="with --pid: the REST predict URL to load (127.0.0.1 only)")
    args = parser.parse_args()

    print_header("perf profile of servekit-server under load")
    event = check_perf()
    generator = "wrk" if args.transport == "rest" else "h2load"
    if shutil.which(generator) is None:
        sys.exit(f"{generator} is not installed (scripts/setup.sh --dev installs it)")
    if args.pid is not None and (args.transport != "rest" or not args.url or "://127.0.0.1:" not in args.url):
        sys.exit("--pid needs --transport rest and --url http://127.0.0.1:PORT/v1/models/NAME:predict")

    pixels = np.random.default_rng(0).random(784).astype(np.float32)
    if args.body == "tolist":  # what a numpy client sends: 16-17 digits per value
        body_json = json.dumps({"instances": [pixels.tolist()]})
    else:
        body_json = json.dumps({"instances": [[round(float(v), 4) for v in pixels]]})  # as rest_bench.py
    # The load outlasts perf's window (perf takes ~1 s to attach and to write its data).
    load_seconds = int(WARMUP_SECONDS + args.seconds + 4)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "perf.data"

        def profile(pid: int, target: str, body: Path, metrics_url: str) -> float:
            """Records `pid` under load; returns the server's CPU µs per request while perf ran."""
            api = "predict" if args.transport == "rest" else "grpc_predict"
            load = start_load(args.transport, target, args.connections, load_seconds, body, work)
            try:
                time.sleep(WARMUP_SECONDS)
                graph = ["-g"] if args.call_graph == "fp" else ["--call-graph", "dwarf"]
                record = ["perf", "record", "-q", "-e", event, *graph, "-F", str(args.frequency)]
                record += ["-p", str(pid), "-o", str(data), "--", "sleep", f"{args.seconds:g}"]
                print(f"$ {' '.join(record)}   (under {generator} -c{args.connections}, {load_seconds} s)", flush=True)
                before, count_before, started = cpu_seconds(pid), served(metrics_url, api), time.monotonic()
                subprocess.run(record, check=True, timeout=args.seconds + 120)
                cpu, elapsed = cpu_seconds(pid) - before, time.monotonic() - started
                count_after = served(metrics_url, api)
                out, err = load.communicate(timeout=load_seconds + 60)
            finally:
                if load.poll() is None:
                    load.kill()
                    load.wait()
            if load.returncode != 0:
                sys.exit(f"{generator} failed:\n{err}")
            rate = load_rate(args.transport, out)
            if count_before is not None and count_after is not None and count_after > count_before:
                requests, source = count_after - count_before, f"the server's counter (api={api})"
            else:
                requests, source = int(rate * elapsed), f"{generator}'s rate x the window"
            us = cpu / max(1, requests) * 1e6
            print(
                f"\n{generator}: {rate:,.0f} req/s over its {load_seconds} s. While perf ran ({elapsed:.1f} s, "
                f"perf's start and stop included): server CPU {cpu:.2f} s over {requests:,} requests "
                f"({source}) = {us:.0f} µs per request, perf's own sampling cost included"
            )
            return us

        if args.pid is not None:
            body = work / "body.json"
            body.write_text(body_json)
            metrics = re.sub(r"^(http://[^/]+).*$", r"\1/monitoring/prometheus/metrics", args.url)
            us = profile(args.pid, args.url, body, metrics)
        else:
            model_dir = work / "mlp"
            mnist_mlp().save(model_dir / "1")
            rest_port, grpc_port = free_port(), free_port()
            flags = ["--model_name=mlp", f"--model_base_path={model_dir}", f"--rest_api_port={rest_port}"]
            flags.append(f"--port={grpc_port}")
            with server_process(servekit_command(flags)) as server:
                wait_until_up(f"http://127.0.0.1:{rest_port}/v2/health/ready")
                if args.transport == "rest":
                    body = work / "body.json"
                    body.write_text(body_json)
                    target = f"http://127.0.0.1:{rest_port}/v1/models/mlp:predict"
                else:
                    from grpc_bench import GRPC_LOAD, PREDICT_METHOD, grpc_frame, predict_request

                    input_name = servekit.load(model_dir / "1").signature.input_names[0]
                    grpc_load = GRPC_LOAD if GRPC_LOAD.exists() else None
                    body = work / "body.grpc"
                    body.write_bytes(grpc_frame(predict_request(grpc_load, "mlp", input_name, (1, 784), work)))
                    target = f"http://127.0.0.1:{grpc_port}{PREDICT_METHOD}"
                us = profile(server.pid, target, body, f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics")

        report(data, "pid", us)  # one line per thread (tid:name)
        report(data, "dso", us)
        report(data, "", us, callchains=args.callchains)
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy2(data, args.keep / "perf.data")
            print(f"\nperf.data kept in {args.keep} (perf report -i {args.keep / 'perf.data'})")


if __name__ == "__main__":
    main()
