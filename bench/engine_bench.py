"""Engine benchmark: servekit beside onnxruntime on the same model.onnx, same run.

For each model and batch size it saves the model with servekit's builder,
loads that one file into both engines (one intra-op thread each: the setting
that serves concurrent requests best on this 2-core machine), checks that the
outputs agree, then times predict calls from Python for both. It prints a
Markdown table: p50/p99 latency, throughput, and the p50 ratio servekit/ORT
(below 1.0 means servekit is faster). A last table compares a large Dense
layer's GFLOP/s with OpenBLAS sgemm (numpy's, single-threaded).

    python bench/engine_bench.py            # full run (a few minutes)
    python bench/engine_bench.py --quick    # shorter timing windows
"""

from __future__ import annotations

import os

# One thread for every BLAS in the process, set before numpy loads its OpenBLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import plots
import servekit
from bench_models import MODELS, dense_layer


def time_calls(fn, seconds: float, min_calls: int = 10) -> np.ndarray:
    """Calls fn repeatedly for about `seconds`; returns per-call latencies in µs."""
    for _ in range(3):
        fn()
    latencies = []
    deadline = time.perf_counter() + seconds
    while len(latencies) < min_calls or time.perf_counter() < deadline:
        start = time.perf_counter_ns()
        fn()
        latencies.append((time.perf_counter_ns() - start) / 1e3)
    return np.asarray(latencies)


def ort_session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def bench_model(name, build, batches, workdir: Path, seconds: float) -> list[dict]:
    model = build()
    version_dir = workdir / name / "1"
    model.save(version_dir)
    ours = servekit.load(version_dir)
    theirs = ort_session(version_dir / "model.onnx")
    input_spec = ours.signature.inputs[0]
    rows = []
    for batch in batches:
        x = np.random.default_rng(0).standard_normal((batch, *input_spec.shape[1:])).astype(np.float32)
        feed = {input_spec.name: x}
        expected = theirs.run(None, feed)[0]
        got = ours.predict(x)
        max_rel = float(np.max(np.abs(got - expected) / (np.abs(expected) + 1e-6)))
        ours_us = time_calls(lambda x=x: ours.predict(x), seconds)
        theirs_us = time_calls(lambda feed=feed: theirs.run(None, feed), seconds)
        rows.append(
            {
                "model": name,
                "batch": batch,
                "sk_p50": np.percentile(ours_us, 50),
                "sk_p99": np.percentile(ours_us, 99),
                "sk_tput": batch * len(ours_us) / (ours_us.sum() / 1e6),
                "ort_p50": np.percentile(theirs_us, 50),
                "ort_p99": np.percentile(theirs_us, 99),
                "ort_tput": batch * len(theirs_us) / (theirs_us.sum() / 1e6),
                "max_rel_diff": max_rel,
                "sk_samples": ours_us,
                "ort_samples": theirs_us,
            }
        )
        print(f"  {name} batch {batch}: done", flush=True)
    return rows


def bench_dense(workdir: Path, seconds: float, batch=256, units=4096) -> dict:
    model = dense_layer(units, units)
    model.save(workdir / "dense" / "1")
    ours = servekit.load(workdir / "dense" / "1")
    x = np.random.default_rng(1).standard_normal((batch, units)).astype(np.float32)
    w = np.random.default_rng(2).standard_normal((units, units)).astype(np.float32)
    flop = 2.0 * batch * units * units
    ours_us = np.percentile(time_calls(lambda: ours.predict(x), seconds, 5), 50)
    numpy_us = np.percentile(time_calls(lambda: x @ w, seconds, 5), 50)
    return {"shape": f"{batch}x{units} · {units}x{units}", "sk": flop / ours_us / 1e3, "blas": flop / numpy_us / 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter timing windows")
    parser.add_argument("--only", help="comma-separated model names")
    parser.add_argument("--plot-dir", type=Path, default=plots.DEFAULT_DIR, help="where the PNG plots go")
    args = parser.parse_args()
    seconds = 0.5 if args.quick else 2.0
    selected = set(args.only.split(",")) if args.only else None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (build, batches) in MODELS.items():
            if selected is None or name in selected:
                rows += bench_model(name, build, batches, Path(tmp), seconds)
        dense = bench_dense(Path(tmp), seconds)

    print(
        f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"servekit GEMM backend: {servekit._core.gemm_backend()}; onnxruntime {ort.__version__}; "
        "1 intra-op thread each; latency of predict() from Python\n"
    )
    print(
        "| model | batch | servekit p50 µs | p99 µs | items/s | ORT p50 µs | p99 µs | items/s "
        "| p50 ratio (sk/ORT) | max rel diff |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['batch']} | {r['sk_p50']:.1f} | {r['sk_p99']:.1f} | {r['sk_tput']:.0f} "
            f"| {r['ort_p50']:.1f} | {r['ort_p99']:.1f} | {r['ort_tput']:.0f} "
            f"| {r['sk_p50'] / r['ort_p50']:.2f} | {r['max_rel_diff']:.1e} |"
        )
    print("\n| large Dense layer | servekit GFLOP/s | OpenBLAS sgemm (numpy, 1 thread) GFLOP/s | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| {dense['shape']} | {dense['sk']:.1f} | {dense['blas']:.1f} | {dense['sk'] / dense['blas']:.2f} |")

    # Each model's smallest and largest batch: latency CDFs, servekit against onnxruntime.
    panels = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        batches = [r for r in rows if r["model"] == name]
        for r in {id(b): b for b in (batches[0], batches[-1])}.values():
            panels[f"{name}, batch {r['batch']}"] = {"servekit": r["sk_samples"], "onnxruntime": r["ort_samples"]}
    plots.latency_cdfs(
        panels, "predict() latency from Python, 1 intra-op thread each", args.plot_dir / "engine_latency_cdf.png"
    )


if __name__ == "__main__":
    main()
