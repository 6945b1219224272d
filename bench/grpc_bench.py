"""gRPC benchmark: TF Serving's Predict over gRPC beside the same predict over
REST, on one servekit-server, with native load generators on the same machine
(bench/grpc_load.cc for gRPC, wrk for REST; no Python client in the loop).
Every cell checks its answers: wrk's non-2xx, grpc_load's statuses, and for
h2load the server's count of OK gRPC predicts.

Rows: the MNIST MLP at batch 1 and the small Keras CNN (28x28x1) at batch 32,
at 1 and 16 concurrent connections. gRPC sends tensor_content (raw float32);
REST sends JSON ("instances", 4 decimals per value). When h2load (nghttp2) is
installed, the same gRPC Predict is also driven by it with a pre-framed body:
a much lighter client than grpc++. Besides throughput and
latency, each row shows the server's CPU time per request: on 2 cores the
load generator's own cost (grpc++ clients are far heavier than wrk) caps the
throughput a protocol can show. A second table drives each model with h2load
on one connection carrying 16 calls at a time (a client multiplexing one
channel, which HTTP/1.1 REST cannot do).

    python bench/grpc_bench.py [--seconds 10]   (after `make bench` has built grpc_load)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from functools import partial
from pathlib import Path

import numpy as np

import servekit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import keras_cnn, mnist_mlp  # noqa: E402
from rest_bench import free_port, wait_until_up, wrk  # noqa: E402

GRPC_LOAD = Path(__file__).resolve().parent.parent / "build" / "skbuild" / "grpc_load"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, run, seconds: float) -> dict:
    """run() with the server's CPU time per request added (µs): what each protocol
    costs the server, whatever the load generator costs."""
    before = cpu_seconds(pid)
    result = run()
    result["server_us"] = (cpu_seconds(pid) - before) / max(1.0, result["rps"] * seconds) * 1e6
    return result


def grpc_predicts_ok(metrics_url: str, model: str) -> int:
    """Predicts over gRPC the server has answered OK for `model` so far (its
    Prometheus counter): h2load sees every gRPC answer as HTTP 200, whatever
    its grpc-status."""
    text = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
    pattern = re.compile(
        r'^servekit_requests_total\{api="grpc_predict",model="' + re.escape(model) + r'",status="OK",[^}]*\} (\S+)$',
        re.M,
    )
    return int(sum(float(m.group(1)) for m in pattern.finditer(text)))


def h2load(
    target: str,
    model: str,
    input_name: str,
    shape,
    connections: int,
    seconds: float,
    work: Path,
    metrics_url: str,
    streams: int = 1,
) -> dict:
    """The same Predict from h2load (nghttp2), a far lighter HTTP/2 client than
    grpc++: pre-framed request body, gRPC headers, `streams` calls at a time on
    each connection. Calls that did not get grpc-status OK count as failed."""
    body = work / f"{model}.grpc"
    subprocess.run([str(GRPC_LOAD), "--frame", str(body), model, input_name, "x".join(map(str, shape))], check=True)
    ok_before = grpc_predicts_ok(metrics_url, model)
    out = subprocess.run(
        [
            "h2load",
            f"-c{connections}",
            f"-m{streams}",
            "-t1",
            f"-D{max(1, round(seconds))}",
            "-d",
            str(body),
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            f"http://{target}/tensorflow.serving.PredictionService/Predict",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out).group(1))
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out).group(1))
    # Calls still in flight when h2load stops are answered (and counted) but not
    # "done"; every done call was counted before its answer was sent.
    return {"rps": rps, "failed": max(0, done - (grpc_predicts_ok(metrics_url, model) - ok_before))}


def grpc_load(target: str, model: str, input_name: str, shape, connections: int, seconds: float) -> dict:
    out = subprocess.run(
        [str(GRPC_LOAD), target, model, input_name, "x".join(map(str, shape)), str(connections), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    if not GRPC_LOAD.exists():
        sys.exit(f"{GRPC_LOAD} is missing: run `make bench` (it builds the benchmarks)")

    rng = np.random.default_rng(0)
    cases = [  # name, model, per-instance shape, batch
        ("MNIST MLP", mnist_mlp(), (784,), 1),
        ("Keras CNN", keras_cnn(), (28, 28, 1), 32),
    ]
    rows, multiplexed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = ["model_config_list {"]
        for i, (_, model, _, _) in enumerate(cases):
            model.save(work / f"m{i}" / "1")
            config.append(f'  config {{ name: "m{i}" base_path: "{work / f"m{i}"}" }}')
        (work / "models.config").write_text("\n".join(config + ["}"]))
        rest_port, grpc_port = free_port(), free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "servekit.cli",
                f"--model_config_file={work / 'models.config'}",
                f"--rest_api_port={rest_port}",
                f"--port={grpc_port}",
                "--bind_address=127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{rest_port}/v2/health/ready")
            for i, (name, _, shape, batch) in enumerate(cases):
                input_name = servekit.load(work / f"m{i}" / "1").signature.input_names[0]
                instances = np.round(rng.random((batch, *shape)), 4).tolist()  # short decimals, as rest_bench
                body = json.dumps({"instances": instances})
                url = f"http://127.0.0.1:{rest_port}/v1/models/m{i}:predict"
                target = f"127.0.0.1:{grpc_port}"
                metrics = f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics"
                for connections in (1, 16):
                    run_grpc = partial(
                        grpc_load, target, f"m{i}", input_name, (batch, *shape), connections, args.seconds
                    )
                    run_rest = partial(wrk, url, connections, args.seconds, body, work)
                    g = measured(server.pid, run_grpc, args.seconds)
                    r = measured(server.pid, run_rest, args.seconds)
                    h = None
                    if shutil.which("h2load"):
                        run_h2 = partial(
                            h2load, target, f"m{i}", input_name, (batch, *shape), connections, args.seconds, work,
                            metrics,
                        )
                        h = measured(server.pid, run_h2, args.seconds)
                    rows.append((name, batch, connections, g, r, h))
                if shutil.which("h2load"):
                    # One connection carrying 16 calls at a time: a client multiplexing one channel.
                    run_mux = partial(
                        h2load, target, f"m{i}", input_name, (batch, *shape), 1, args.seconds, work, metrics, 16
                    )
                    multiplexed.append((name, batch, measured(server.pid, run_mux, args.seconds)))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)

    print(
        f"\ngRPC vs REST predict, one servekit-server, {args.seconds:g} s per cell, {os.cpu_count()} cores "
        "(load generators on the same machine)\n"
    )
    print(
        "| model | batch | conns | gRPC (grpc_load) req/s | p50 ms | p99 ms | server µs/req "
        "| gRPC (h2load) req/s | server µs/req | REST (wrk) req/s | p50 ms | p99 ms | server µs/req "
        "| best gRPC/REST | failed |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, batch, connections, g, r, h in rows:
        failed = g["failed"] + r["bad"] + (h["failed"] if h else 0)
        h2 = f"{h['rps']:,.0f} | {h['server_us']:,.0f}" if h else "- | -"
        best = max(g["rps"], h["rps"] if h else 0)
        print(
            f"| {name} | {batch} | {connections} | {g['rps']:,.0f} | {g['p50']:.2f} | {g['p99']:.2f} "
            f"| {g['server_us']:,.0f} | {h2} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} "
            f"| {r['server_us']:,.0f} | {best / r['rps']:.2f} | {failed} |"
        )
    if multiplexed:
        print("\ngRPC, one connection with 16 calls in flight (h2load -c1 -m16; REST/HTTP 1.1 cannot multiplex)\n")
        print("| model | batch | req/s | server µs/req | failed |")
        print("|---|---:|---:|---:|---:|")
        for name, batch, m in multiplexed:
            print(f"| {name} | {batch} | {m['rps']:,.0f} | {m['server_us']:,.0f} | {m['failed']} |")


if __name__ == "__main__":
    main()
