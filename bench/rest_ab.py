"""Two servekit builds side by side over REST, in alternating rounds: the
way to see a change of a few percent on a machine whose speed drifts by more
than that between minutes (rest_bench.py --baseline-site runs the builds one
after the other, so drift lands in the comparison).

Both servers run at once on loopback, each from its own build (a directory
made with `pip install --target DIR`, or "installed" for the one
installed), serving the same MNIST MLP 784-128-10. Each round runs wrk
against one, then the other (the order alternates), for predict (rest_bench's
4-decimal body) and for the GET floor; the idle server costs nothing
meanwhile. Prints every round and, per round, the ratio new / old.

    python bench/rest_ab.py OLD_DIR [NEW_DIR|installed] [--rounds 8] [--seconds 3] [--connections 16]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

import servekit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_harness import free_port, servekit_command, server_process, wait_until_up, wrk  # noqa: E402
from bench_models import mnist_mlp  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", help="the baseline build's site directory")
    parser.add_argument("new", nargs="?", default="installed", help="the other build's, or 'installed'")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    pixels = np.random.default_rng(0).random(784).astype(np.float32)
    body = json.dumps({"instances": [[round(float(v), 4) for v in pixels]]})
    builds = {"old": args.old, "new": args.new}
    results = {name: {"predict": [], "get": []} for name in builds}
    with tempfile.TemporaryDirectory() as tmp, server_process_pair(builds, Path(tmp)) as ports:
        for round_index in range(args.rounds):
            order = list(builds) if round_index % 2 == 0 else list(reversed(builds))
            for kind, path, payload in [
                ("predict", "/v1/models/mlp:predict", body),
                ("get", "/v2/health/live", None),
            ]:
                for name in order:
                    url = f"http://127.0.0.1:{ports[name]}{path}"
                    run = wrk(url, args.connections, args.seconds, payload, Path(tmp))
                    results[name][kind].append(run["rps"])
            print(
                f"round {round_index + 1}: "
                + ", ".join(
                    f"{n} predict {results[n]['predict'][-1]:,.0f} get {results[n]['get'][-1]:,.0f}" for n in builds
                ),
                flush=True,
            )
    print(f"\nold = {args.old}, new = {args.new}; wrk -t1 -c{args.connections}, {args.seconds:g} s per run")
    for kind in ("predict", "get"):
        ratios = [n / o for n, o in zip(results["new"][kind], results["old"][kind], strict=True)]
        print(
            f"  {kind}: new / old median {statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f})"
        )
    for name in builds:
        floor = [p / g for p, g in zip(results[name]["predict"], results[name]["get"], strict=True)]
        print(f"  {name}: predict / GET floor median {statistics.median(floor):.3f}")


@contextlib.contextmanager
def server_process_pair(builds: dict, work: Path):
    """Starts one servekit-server per build (the MLP as `mlp`), yields {name: port}; stops them after."""
    mnist_mlp().save(work / "mlp" / "1")
    with contextlib.ExitStack() as stack:
        ports = {}
        for name, site in builds.items():
            env = None if site == "installed" else {**os.environ, "PYTHONPATH": site}
            ports[name] = free_port()
            flags = ["--model_name=mlp", f"--model_base_path={work / 'mlp'}", f"--rest_api_port={ports[name]}"]
            flags.append("--port=0")  # no gRPC: two servers would want the same port
            stack.enter_context(server_process(servekit_command(flags), env=env))
            wait_until_up(f"http://127.0.0.1:{ports[name]}/v1/models/mlp")
        yield ports


if __name__ == "__main__":
    print(f"servekit {servekit.__version__} installed at {Path(servekit.__file__).parent}")
    main()
