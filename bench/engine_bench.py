"""Engine benchmark: servekit beside onnxruntime and OpenVINO on the same model.onnx, same run.

For each model and batch size it saves the model with servekit's builder,
loads that one file into every runtime, checks that the outputs agree, then
times predict calls from Python, the runtimes interleaved in rounds (this VM
drifts; interleaving keeps the ratios fair). Runtimes:

  servekit 1T         servekit.load's default, intra_op_threads=1
  servekit NT         intra_op_threads=None (every core: 2 here)
  ORT 1T / ORT        onnxruntime with 1 intra-op thread / its default (all cores)
  OV 1T / OV          OpenVINO with 1 inference thread / its default, both LATENCY hint
                      and float32 (its default on CPUs with bfloat16 units is bfloat16)

It prints a Markdown table of p50 latencies (µs) and two ratios: servekit
against the best peer with every side held to one thread, and servekit's
faster setting against the fastest peer at any setting (below 1.0 means
servekit is faster). A second table compares a large Dense layer's GFLOP/s
with OpenBLAS sgemm (numpy's, single-threaded); a third, each model's memory
(resident after loading it and running the largest batch, one thread, fresh
processes) with onnxruntime's (--no-memory skips it).

    python bench/engine_bench.py            # full run (several minutes)
    python bench/engine_bench.py --quick    # shorter timing windows
    python bench/engine_bench.py --only keras_cnn,mobilenet_v2
"""

from __future__ import annotations

import os

# One thread for every BLAS in the process, set before numpy loads its OpenBLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

import plots
import servekit
from bench_models import MODELS, dense_layer

try:
    import openvino
except ImportError:  # bench-only dependency (scripts/setup.sh --dev)
    openvino = None

ROUNDS = 4  # each runtime's timing window is split into this many interleaved rounds


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


def ort_session(path: Path, threads: int | None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def openvino_runner(path: Path, threads: int | None) -> Callable[[np.ndarray], np.ndarray]:
    # float32 like the others: on CPUs with AMX or AVX512-BF16 OpenVINO's default
    # precision is bfloat16, which changes results (~3e-3 relative on keras_cnn).
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = openvino.Core().compile_model(str(path), "CPU", config)
    request = compiled.create_infer_request()

    def run(x: np.ndarray) -> np.ndarray:
        request.infer({0: x})
        return request.get_output_tensor(0).data

    return run


def runtimes(version_dir: Path) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """name -> predict(x) for every runtime; servekit first."""
    ours_1t = servekit.load(version_dir, intra_op_threads=1)
    ours_nt = servekit.load(version_dir, intra_op_threads=None)
    onnx_path = version_dir / "model.onnx"
    result = {"servekit 1T": ours_1t.predict, "servekit NT": ours_nt.predict}
    for label, threads in (("ORT 1T", 1), ("ORT", None)):
        session = ort_session(onnx_path, threads)
        name = session.get_inputs()[0].name
        result[label] = lambda x, session=session, name=name: session.run(None, {name: x})[0]
    if openvino is not None:
        result["OV 1T"] = openvino_runner(onnx_path, 1)
        result["OV"] = openvino_runner(onnx_path, None)
    return result


def bench_model(name, build, batches, workdir: Path, seconds: float) -> list[dict]:
    model = build()
    version_dir = workdir / name / "1"
    model.save(version_dir)
    run = runtimes(version_dir)
    input_spec = servekit.load(version_dir).signature.inputs[0]
    rows = []
    for batch in batches:
        x = np.random.default_rng(0).standard_normal((batch, *input_spec.shape[1:])).astype(np.float32)
        expected = run["ORT 1T"](x)
        # Scaled by the output's largest magnitude, not element by element: a
        # layer norm's outputs near zero would turn rounding into large ratios.
        max_rel = max(
            float(np.max(np.abs(np.asarray(fn(x)) - expected)) / max(float(np.max(np.abs(expected))), 1e-30))
            for label, fn in run.items()
            if label.startswith("servekit")
        )
        samples = {label: [] for label in run}
        for _ in range(ROUNDS):
            for label, fn in run.items():
                samples[label].append(time_calls(lambda fn=fn, x=x: fn(x), seconds / ROUNDS, 3))
        p50 = {label: float(np.percentile(np.concatenate(s), 50)) for label, s in samples.items()}
        one_thread_peers = [p50[k] for k in ("ORT 1T", "OV 1T") if k in p50]
        rows.append(
            {
                "model": name,
                "batch": batch,
                "p50": p50,
                "ratio_1t": p50["servekit 1T"] / min(one_thread_peers),
                "ratio_best": min(p50["servekit 1T"], p50["servekit NT"])
                / min(v for k, v in p50.items() if not k.startswith("servekit")),
                "max_rel_diff": max_rel,
                "samples": {k: np.concatenate(v) for k, v in samples.items()},
            }
        )
        print(f"  {name} batch {batch}: done", flush=True)
    return rows


def bench_dense(workdir: Path, seconds: float, batch=256, units=4096) -> dict:
    model = dense_layer(units, units)
    model.save(workdir / "dense" / "1")
    ours = servekit.load(workdir / "dense" / "1", intra_op_threads=1)  # beside 1-thread OpenBLAS
    x = np.random.default_rng(1).standard_normal((batch, units)).astype(np.float32)
    w = np.random.default_rng(2).standard_normal((units, units)).astype(np.float32)
    flop = 2.0 * batch * units * units
    ours_us = np.percentile(time_calls(lambda: ours.predict(x), seconds, 5), 50)
    numpy_us = np.percentile(time_calls(lambda: x @ w, seconds, 5), 50)
    return {"shape": f"{batch}x{units} · {units}x{units}", "sk": flop / ours_us / 1e3, "blas": flop / numpy_us / 1e3}


# Memory of one runtime: a fresh process loads the model and runs the largest
# batch 5 times; the growth of its resident set over what the imports took
# (both keep their working memory between calls, so this is their footprint
# while serving; ru_maxrss cannot tell: the imports' own peak hides small models).
_MEMORY_PROBE = """
import os, sys
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
runtime, path, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
shape = [int(d) for d in sys.argv[4].split(",")]
import servekit, onnxruntime as ort
x = np.random.default_rng(0).standard_normal((batch, *shape)).astype(np.float32)
def resident_kib():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
base = resident_kib()
if runtime == "servekit":
    model = servekit.load(path, intra_op_threads=1)
    run = model.predict
else:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(os.path.join(path, "model.onnx"), options, providers=["CPUExecutionProvider"])
    run = lambda x: session.run(None, {session.get_inputs()[0].name: x})
for _ in range(5):
    run(x)
print(resident_kib() - base)
"""


def memory_mib(runtime: str, version_dir: Path, batch: int, shape) -> float:
    """Resident-set growth (MiB) of `runtime` loading and running the model, in a fresh process."""
    dims = ",".join(str(d) for d in shape)
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, runtime, str(version_dir), str(batch), dims],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def memory_table(selected: set[str] | None, workdir: Path) -> None:
    print("\n| model | batch | servekit MiB | ORT MiB | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, (build, batches) in MODELS.items():
        if selected is not None and name not in selected:
            continue
        version_dir = workdir / f"{name}_memory" / "1"
        build().save(version_dir)
        shape = servekit.load(version_dir, intra_op_threads=1).signature.inputs[0].shape[1:]
        ours, theirs = (memory_mib(r, version_dir, batches[-1], shape) for r in ("servekit", "onnxruntime"))
        print(f"| {name} | {batches[-1]} | {ours:.1f} | {theirs:.1f} | {ours / max(theirs, 0.1):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter timing windows")
    parser.add_argument("--only", help="comma-separated model names")
    parser.add_argument("--plot-dir", type=Path, default=plots.DEFAULT_DIR, help="where the PNG plots go")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory table")
    args = parser.parse_args()
    seconds = 0.5 if args.quick else 2.0
    selected = set(args.only.split(",")) if args.only else None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (build, batches) in MODELS.items():
            if selected is None or name in selected:
                rows += bench_model(name, build, batches, Path(tmp), seconds)
        dense = bench_dense(Path(tmp), seconds)

    labels = list(rows[0]["p50"]) if rows else []
    print(
        f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"servekit GEMM backend: {servekit._core.gemm_backend()}; onnxruntime {ort.__version__}; "
        f"OpenVINO {openvino.get_version() if openvino else 'not installed'} (float32; its default "
        f"precision here: {openvino.Core().get_property('CPU', 'INFERENCE_PRECISION_HINT') if openvino else '-'}); "
        "p50 latency of predict() from Python, µs; runtimes interleaved in one run\n"
    )
    print(
        "| model | batch | "
        + " | ".join(labels)
        + " | 1 thread each: servekit / best peer | best setting each: servekit / best peer"
        + " | max abs diff / max abs output |"
    )
    print("|---|---:|" + "---:|" * (len(labels) + 3))
    for r in rows:
        cells = " | ".join(f"{r['p50'][label]:.1f}" for label in labels)
        print(
            f"| {r['model']} | {r['batch']} | {cells} | {r['ratio_1t']:.2f} | {r['ratio_best']:.2f} "
            f"| {r['max_rel_diff']:.1e} |"
        )
    print("\n| large Dense layer | servekit GFLOP/s | OpenBLAS sgemm (numpy, 1 thread) GFLOP/s | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| {dense['shape']} | {dense['sk']:.1f} | {dense['blas']:.1f} | {dense['sk'] / dense['blas']:.2f} |")

    if not args.no_memory:
        with tempfile.TemporaryDirectory() as tmp:
            memory_table(selected, Path(tmp))

    # Each model's smallest and largest batch: latency CDFs, servekit against the 1-thread peers.
    panels = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        batches = [r for r in rows if r["model"] == name]
        for r in {id(b): b for b in (batches[0], batches[-1])}.values():
            panels[f"{name}, batch {r['batch']}"] = {
                k: v for k, v in r["samples"].items() if k in ("servekit 1T", "ORT 1T", "OV 1T")
            }
    plots.latency_cdfs(
        panels, "predict() latency from Python, 1 intra-op thread each", args.plot_dir / "engine_latency_cdf.png"
    )


if __name__ == "__main__":
    main()
