"""servekit-server under concurrent REST load with one and with two intra-op
threads per request (--tensorflow_intra_op_parallelism): the measurement behind
the server's default of one.

For each model it saves the model with servekit's builder, serves it, and runs
wrk (one thread; the load generator shares the 2 cores with the server) against
POST :predict with the same JSON body (`--batch` instances), at each connection
count, first with intra-op 1, then 2. Every server binds 127.0.0.1 and is
stopped at the end.

    python bench/server_threads_bench.py [--models keras_cnn:8,resnet50:1] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

import bench_harness as harness
import servekit
from bench_models import MODELS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="keras_cnn:8,resnet50:1", help="model:batch pairs, comma-separated")
    parser.add_argument("--seconds", type=float, default=8, help="wrk duration per row")
    parser.add_argument("--connections", default="1,2,4,8", help="connection counts (comma-separated)")
    args = parser.parse_args()
    harness.print_header("servekit-server: one or two intra-op threads per request, under concurrent load")
    connection_counts = [int(c) for c in args.connections.split(",")]
    print("| model | batch | connections | 1 thread: req/s | p50 ms | p99 ms | 2 threads: req/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for spec in args.models.split(","):
            name, batch = spec.split(":")
            build, _ = MODELS[name]
            build().save(work / name / "1")
            shape = servekit.load(work / name / "1").signature.inputs[0].shape[1:]
            x = np.random.default_rng(0).standard_normal((int(batch), *shape)).astype(np.float32).round(4)
            body = json.dumps({"instances": x.tolist()})
            results = {}
            for threads in (1, 2):
                port = harness.free_port()
                flags = [
                    f"--model_name={name}",
                    f"--model_base_path={work / name}",
                    f"--rest_api_port={port}",
                    f"--tensorflow_intra_op_parallelism={threads}",
                ]
                with harness.server_process(harness.servekit_command(flags)):
                    base = f"http://127.0.0.1:{port}"
                    harness.wait_until_up(f"{base}/v1/models/{name}")
                    url = f"{base}/v1/models/{name}:predict"
                    harness.wrk(url, 1, 2, body, work)  # warm-up: plans and code for this batch size
                    for c in connection_counts:
                        results[threads, c] = harness.wrk(url, c, args.seconds, body, work)
            for c in connection_counts:
                one, two = results[1, c], results[2, c]
                print(
                    f"| {name} | {batch} | {c} | {one['rps']:.1f} | {one['p50']:.2f} | {one['p99']:.2f} "
                    f"| {two['rps']:.1f} | {two['p50']:.2f} | {two['p99']:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
