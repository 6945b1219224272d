"""Serving-core benchmark: what the versioned core costs and whether it leaks.

1. Predict latency through ServingCore beside the same model loaded directly
   (MNIST MLP, batch 1, p50 from Python): the overhead of version selection.
2. Time from a version directory appearing (model.save) to it serving.
3. RSS across many load/unload cycles of a ~10 MB model (version swaps),
   reported as growth in MB after a warm-up.

    python bench/serving_bench.py [--cycles 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import servekit
from servekit import layers


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def p50_us(fn, calls=20000) -> float:
    for _ in range(500):
        fn()
    samples = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter_ns()
        fn()
        samples[i] = time.perf_counter_ns() - start
    return float(np.percentile(samples, 50)) / 1e3


def mlp(seed: int) -> servekit.Sequential:
    servekit.initializers.set_random_seed(seed)
    return servekit.Sequential([servekit.Input((784,)), layers.Dense(128, activation="relu"), layers.Dense(10)])


def big_model(version: int) -> servekit.Sequential:
    """~10 MB of float32 weights (1600x1600 Dense); the bias encodes the version."""
    model = servekit.Sequential([servekit.Input((1600,)), layers.Dense(1600)])
    weights = model.get_weights()
    weights[1] = np.full_like(weights[1], version)
    model.set_weights(weights)
    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=1000, help="load/unload cycles for the memory test")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # 1. overhead
        mlp(0).save(root / "mlp" / "1")
        direct = servekit.load(root / "mlp" / "1")
        x = np.random.default_rng(0).random((1, 784), dtype=np.float32)
        with servekit.ServingCore(
            model_name="mlp", model_base_path=root / "mlp", file_system_poll_wait_seconds=0
        ) as core:
            direct_us = p50_us(lambda: direct.predict(x))
            core_us = p50_us(lambda: core.predict("mlp", x))
        # 2. time to serve
        big_model(1).save(root / "big" / "1")
        with servekit.ServingCore(
            model_name="big", model_base_path=root / "big", file_system_poll_wait_seconds=0.005
        ) as core:
            delays = []
            for version in range(2, 12):
                start = time.perf_counter()
                big_model(version).save(root / "big" / str(version))
                core.wait_until_available("big", version, timeout=30)
                delays.append((time.perf_counter() - start) * 1e3)
        # 3. memory across load/unload cycles (the model file is written once; the
        #    version directory is renamed so each cycle is a new version to load)
        model_dir = root / "cycle"
        big_model(1).save(model_dir / "1")
        size_mb = (model_dir / "1" / "model.onnx").stat().st_size / 2**20
        rss = []
        with servekit.ServingCore(
            model_name="cycle", model_base_path=model_dir, file_system_poll_wait_seconds=0.001
        ) as core:
            core.wait_until_available("cycle", 1, timeout=30)
            probe = np.ones((1, 1600), np.float32)
            for version in range(2, args.cycles + 2):
                os.rename(model_dir / str(version - 1), model_dir / str(version))
                core.wait_until_available("cycle", version, timeout=30)
                core.predict("cycle", probe)
                if version == 12:
                    rss.append(rss_mb())  # after warm-up
            rss.append(rss_mb())

    print(
        f"ServingCore overhead (MNIST MLP, batch 1, p50 from Python): direct {direct_us:.1f} µs, "
        f"through the core {core_us:.1f} µs, overhead {core_us - direct_us:.1f} µs"
    )
    print(
        f"time from model.save(base/N) to serving (10 MB model, poll 5 ms): "
        f"p50 {np.percentile(delays, 50):.1f} ms, max {max(delays):.1f} ms"
    )
    print(
        f"RSS across {args.cycles} load/unload cycles of a {size_mb:.1f} MB model: "
        f"{rss[0]:.1f} MB after 10 cycles -> {rss[1]:.1f} MB at the end, growth {rss[1] - rss[0]:.1f} MB"
    )


if __name__ == "__main__":
    main()
