"""REST benchmark: servekit-server's predict beside its own HTTP floor and beside
the Python stacks people serve models with, with wrk as the load generator on
the same machine.

Every row answers the same POST /v1/models/mlp:predict with the same JSON body
(one MNIST instance, 784 values with 4 decimals) and the same model (MNIST MLP
784-128-10, batch 1, built by bench_models.py and saved as model.onnx):

  servekit-server predict (REST)          the C++ server, at each connection count
  servekit-server GET /v2/health/live     the same server's HTTP floor: a GET that does nothing
  servekit-server POST predict body to    the same body sent where nothing reads it (405): the floor
    /v2/health/live                       for a request of this size, which no JSON or model work
                                          can go below
  FastAPI + uvicorn + onnxruntime         2 workers, uvloop, httptools, orjson in and out,
                                          an async handler calling InferenceSession.run
  Flask dev server (threaded)             Flask's request.get_json()/jsonify, with the model
  gunicorn (2 sync workers) + Flask       run by onnxruntime or by servekit.load
onnxruntime runs with one intra-op and one inter-op thread per process (two
workers on two cores; the model is batch 1). Each stack's answer is checked
against servekit's before it is timed. Every server binds 127.0.0.1, every
run stops after --seconds and every server started is stopped.

At the end: issue 11's two ratios at 16 connections, servekit predict over
its GET floor (target >= 0.60) and over FastAPI + uvicorn + onnxruntime
(target >= 5x).

    python bench/rest_bench.py [--seconds 10] [--connections 1,16,64] [--only servekit,fastapi-ort,...]
                               [--baseline-site DIR] [--rounds N]

--baseline-site DIR adds the servekit rows of another build, installed with
`pip install --target DIR` (e.g. the commit before a change), run from DIR
in the same run, labelled [baseline].

--rounds N (N > 1) then measures the two ratios again in N rounds, with
servekit-server and FastAPI both up: each round runs servekit predict, its
GET floor and FastAPI predict at 16 connections one after the other, and
gives the round's ratios, with how many of wrk's connections each uvicorn
worker held halfway through FastAPI's row. It prints every round and the
median of each ratio: on a VM whose speed drifts by tens of percent from
one row to the next, one row can decide a one-row ratio; rounds show the
spread. Each round also sends the predict body to the GET route (405), and
the rounds end with the CPU each row costs per request, the server's and
wrk's (which shares its cores): the server CPU per predict that the GET-floor
target leaves, beside what predict spends and what the body alone costs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import textwrap
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import requests

import servekit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_harness import (  # noqa: E402
    connections_per_worker,
    free_port,
    measured,
    print_header,
    print_wrk_table,
    servekit_command,
    server_process,
    wait_until_up,
    wrk,
)
from bench_models import mnist_mlp  # noqa: E402
from plots import DEFAULT_DIR, throughput_by_connections  # noqa: E402

MODEL = "mlp"
PREDICT_PATH = f"/v1/models/{MODEL}:predict"

SERVEKIT = "servekit-server predict (REST)"
FLOOR = "servekit-server GET /v2/health/live (HTTP floor)"
BODY_FLOOR = "servekit-server POST predict body to /v2/health/live (405: the floor with the body)"
FASTAPI = "FastAPI + uvicorn (2 workers, uvloop, httptools, orjson) + onnxruntime"

# The model runners the Python stacks call: `run(float32 array) -> array`.
ORT_RUNNER = """
import onnxruntime as ort

_options = ort.SessionOptions()
_options.intra_op_num_threads = 1
_options.inter_op_num_threads = 1
_session = ort.InferenceSession(MODEL_FILE, _options, providers=["CPUExecutionProvider"])
_input = _session.get_inputs()[0].name


def run(x):
    return _session.run(None, {_input: x})[0]
"""

SERVEKIT_RUNNER = """
import servekit

_model = servekit.load(MODEL_DIR)


def run(x):
    return _model.predict(x)
"""

FLASK_APP = """
import numpy as np
from flask import Flask, jsonify, request

RUNNER

app = Flask(__name__)


@app.post("PREDICT_PATH")
def predict():
    instances = np.asarray(request.get_json()["instances"], dtype=np.float32)
    return jsonify(predictions=run(instances).tolist())


if __name__ == "__main__":
    import sys

    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
"""

FASTAPI_APP = """
import numpy as np
import orjson
from fastapi import FastAPI, Request, Response

RUNNER

app = FastAPI()


@app.post("PREDICT_PATH")
async def predict(request: Request):
    # The raw body through orjson (no pydantic model), the ~15 us model run inline
    # on the event loop, orjson bytes in a plain Response: the fastest form of this
    # stack measured here (FastAPI 0.165 deprecates ORJSONResponse, ~5-10% slower).
    instances = np.asarray(orjson.loads(await request.body())["instances"], dtype=np.float32)
    return Response(orjson.dumps({"predictions": run(instances).tolist()}), media_type="application/json")
"""


def write_app(path: Path, template: str, runner: str, model_dir: Path) -> None:
    runner = runner.replace("MODEL_FILE", repr(str(model_dir / "model.onnx")))
    runner = runner.replace("MODEL_DIR", repr(str(model_dir)))
    path.write_text(textwrap.dedent(template).replace("RUNNER", runner).replace("PREDICT_PATH", PREDICT_PATH))


UVICORN_FLAGS = (
    "--host 127.0.0.1 --port {port} --workers 2 --loop uvloop --http httptools --no-access-log --log-level warning"
)


def python_stacks(work: Path) -> dict[str, tuple[str, list[str]]]:
    """key -> (row label, command taking the port as {port})."""
    py = sys.executable
    gunicorn = [py, "-m", "gunicorn", "-w", "2", "-k", "sync", "-b", "127.0.0.1:{port}", "--chdir", str(work)]
    return {
        "fastapi-ort": (
            FASTAPI,
            [py, "-m", "uvicorn", "fastapi_ort:app", "--app-dir", str(work), *UVICORN_FLAGS.split()],
        ),
        "flask-ort": ("Flask dev server (threaded) + onnxruntime", [py, str(work / "flask_ort.py"), "{port}"]),
        "flask-servekit": (
            "Flask dev server (threaded) + servekit.load",
            [py, str(work / "flask_servekit.py"), "{port}"],
        ),
        "gunicorn-ort": ("gunicorn (2 sync workers) + Flask + onnxruntime", [*gunicorn, "flask_ort:app"]),
        "gunicorn-servekit": ("gunicorn (2 sync workers) + Flask + servekit.load", [*gunicorn, "flask_servekit:app"]),
    }


def first_answer(url: str, body: str, timeout: float = 90) -> np.ndarray:
    """Posts until the server answers 200 (workers take a while to import) and returns its predictions."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=5)
            response.raise_for_status()
            return np.asarray(response.json()["predictions"], dtype=np.float32)
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def during(delay: float, sample, run):
    """run()'s result, and sample()'s, taken `delay` seconds into the run (None if run() ended first)."""
    taken = []
    timer = threading.Timer(delay, lambda: taken.append(sample()))
    timer.start()
    try:
        result = run()
    finally:
        timer.cancel()
        timer.join()
    return result, (taken[0] if taken else None)


def ratio_rounds(rounds: int, seconds: float, work: Path, model_dir: Path, body: str) -> None:
    """Issue 11's ratios at 16 connections in `rounds` rounds (--rounds, above)."""
    _, fastapi_command = python_stacks(work)["fastapi-ort"]
    servekit_port, fastapi_port = free_port(), free_port()
    flags = [f"--model_name={MODEL}", f"--model_base_path={model_dir.parent}", f"--rest_api_port={servekit_port}"]
    fastapi_url = f"http://127.0.0.1:{fastapi_port}{PREDICT_PATH}"
    with (
        server_process(servekit_command([*flags, "--port=0"])) as servekit_server,
        server_process([part.replace("{port}", str(fastapi_port)) for part in fastapi_command], cwd=work) as fastapi,
    ):
        base = f"http://127.0.0.1:{servekit_port}"
        wait_until_up(f"{base}/v2/health/ready")
        first_answer(base + PREDICT_PATH, body)
        first_answer(fastapi_url, body)
        print(f"\nIssue 11's ratios at 16 connections in {rounds} rounds ({seconds:g} s per row):")
        print(
            "| round | predict req/s | GET floor req/s | FastAPI req/s | FastAPI connections per worker "
            "| predict / GET floor | predict / FastAPI |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|")
        floor_ratios, fastapi_ratios = [], []
        costs = {"predict": [], "GET floor": [], "405 body floor": []}  # (server µs, wrk µs, req/s)
        for number in range(1, rounds + 1):

            def rate(pid, url, data, kind=None):
                result = measured(pid, partial(wrk, url, 16, seconds, data, work), seconds)
                if kind:
                    costs[kind].append((result["server_us"], result["client_us"], result["rps"]))
                return result["rps"]

            predict = rate(servekit_server.pid, base + PREDICT_PATH, body, "predict")
            floor = rate(servekit_server.pid, f"{base}/v2/health/live", None, "GET floor")
            rate(servekit_server.pid, f"{base}/v2/health/live", body, "405 body floor")
            # Which uvicorn worker accept()ed which connection can sway FastAPI's
            # rate, so the spread is shown beside it.
            python, spread = during(
                seconds / 2,
                partial(connections_per_worker, fastapi.pid, fastapi_port),
                partial(rate, fastapi.pid, fastapi_url, body),
            )
            floor_ratios.append(predict / floor)
            fastapi_ratios.append(predict / python)
            workers = "/".join(map(str, spread or [])) or "n/a"
            print(
                f"| {number} | {predict:,.0f} | {floor:,.0f} | {python:,.0f} | {workers} "
                f"| {floor_ratios[-1]:.2f} | {fastapi_ratios[-1]:.2f}x |",
                flush=True,
            )
    for what, ratios, target, unit in (
        ("predict / GET floor", floor_ratios, 0.6, ""),
        ("predict / FastAPI", fastapi_ratios, 5, "x"),
    ):
        median = float(np.median(ratios))
        verdict = "met" if median >= target else "NOT met"
        print(
            f"  median {what}: {median:.2f}{unit} (target >= {target:g}{unit}: {verdict}); "
            f"rounds range {min(ratios):.2f}-{max(ratios):.2f}{unit}"
        )
    print_cpu_budget(costs, 0.60, "medians of the rounds")


def print_cpu_budget(costs: dict, target: float, source: str) -> None:
    """Where the GET-floor ratio is decided. wrk and the server share the two
    cores, so a row's rate is the cores it keeps busy over the CPU a request
    costs both: rate = busy / (server µs + wrk µs). For predict, at the cores
    it keeps busy now, to reach `target` of the GET floor's rate, a predict may
    cost both at most busy / (target * floor rate); less wrk's own cost per
    predict, that is the server's budget, printed beside what the server
    spends now and what the same body costs it when answered 405 unread."""
    print(f"\nCPU per request at 16 connections, {source} (wrk runs on the server's cores):")
    print("| row | req/s | server µs/req | wrk µs/req | total µs/req | cores busy |")
    print("|---|---:|---:|---:|---:|---:|")
    medians = {}
    for kind, rows in costs.items():
        server, client, rps = (float(np.median([r[i] for r in rows])) for i in range(3))
        busy = rps * (server + client) / 1e6
        medians[kind] = (server, client, rps, busy)
        print(f"| {kind} | {rps:,.0f} | {server:.1f} | {client:.1f} | {server + client:.1f} | {busy:.2f} |")
    predict_server, predict_client, _, predict_busy = medians["predict"]
    floor_rps = medians["GET floor"][2]
    total = predict_busy * 1e6 / (target * floor_rps)
    print(
        f"  server budget per predict for {target:.2f} of the GET floor: {predict_busy:.2f} cores"
        f" / ({target:.2f} * {floor_rps:,.0f} req/s) = {total:.1f} µs, less wrk's {predict_client:.1f}"
        f" = {total - predict_client:.1f} µs; spent now {predict_server:.1f} µs, of which"
        f" {medians['405 body floor'][0]:.1f} µs is what the same body costs answered 405 unread"
    )


def ratio_line(what: str, numerator: float | None, denominator: float | None, target: float, unit: str) -> str:
    if not numerator or not denominator:
        return f"  {what}: n/a (a row is missing from this run)"
    value = numerator / denominator
    verdict = "met" if value >= target else "NOT met"
    return (
        f"  {what}: {numerator:,.0f} / {denominator:,.0f} = {value:.2f}{unit} (target >= {target:g}{unit}: {verdict})"
    )


def report(rows: list, plot_dir: Path) -> None:
    """The table, the plot and issue 11's ratios at 16 connections, from one row each."""
    print_wrk_table(rows)

    def rps(label: str, connections: int) -> float | None:
        return next((r["rps"] for name, c, r in rows if name == label and c == connections), None)

    series: dict[str, list[tuple[int, float]]] = {}
    for label, connections, r in rows:
        series.setdefault(label, []).append((connections, r["rps"]))
    # Only the rows measured at more than one connection count make lines.
    series = {label: points for label, points in series.items() if len(points) > 1}
    throughput_by_connections(
        series,
        "REST predict (MNIST MLP, batch 1) against connections, wrk on the same 2 cores",
        plot_dir / "rest_throughput.png",
    )

    print("\nIssue 11's targets, at 16 connections, this run:")
    print(ratio_line("servekit predict / servekit GET floor", rps(SERVEKIT, 16), rps(FLOOR, 16), 0.60, ""))
    print(ratio_line("servekit predict / FastAPI + uvicorn + onnxruntime", rps(SERVEKIT, 16), rps(FASTAPI, 16), 5, "x"))
    body_floor, floor = rps(BODY_FLOOR, 16), rps(FLOOR, 16)
    if body_floor and floor:
        print(
            f"  for scale: the predict body answered 405 unread / GET floor: {body_floor:,.0f} / {floor:,.0f}"
            f" = {body_floor / floor:.2f} (the most any predict handler could reach)"
        )
    costs = {
        kind: [(r["server_us"], r["client_us"], r["rps"]) for name, c, r in rows if name == label and c == 16]
        for kind, label in (("predict", SERVEKIT), ("GET floor", FLOOR), ("405 body floor", BODY_FLOOR))
    }
    if all(costs.values()):
        print_cpu_budget(costs, 0.60, "this run's rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="wrk duration per row")
    parser.add_argument("--threads", type=int, default=None, help="servekit's --rest_api_num_threads")
    parser.add_argument("--connections", default="1,16,64", help="connection counts (comma-separated)")
    parser.add_argument("--baseline-site", default=None, help="also run the servekit rows of the build installed here")
    parser.add_argument("--plot-dir", type=Path, default=DEFAULT_DIR, help="where the PNG plot goes")
    parser.add_argument("--rounds", type=int, default=1, help="N > 1: the ratios again in N rounds, with medians")
    parser.add_argument(
        "--only",
        default="servekit,fastapi-ort,flask-ort,flask-servekit,gunicorn-ort,gunicorn-servekit",
        help="which servers to run (comma-separated keys)",
    )
    args = parser.parse_args()
    connection_counts = [int(c) for c in args.connections.split(",")]
    only = args.only.split(",")
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (scripts/setup.sh --dev installs it)")

    print_header("REST predict: servekit-server beside its GET floor and Python stacks")
    print(
        f"MNIST MLP 784-128-10, batch 1; wrk -t1 --latency, {args.seconds:g} s per row, connections "
        f"{connection_counts}; servekit --rest_api_num_threads={args.threads or 'default'}\n",
        flush=True,
    )

    # One MNIST-sized instance of random pixels in [0, 1): written with 4 decimals
    # (5.5 KB: what a client that rounds, or sends decimal data, posts), and as a
    # float32 array's tolist() (15.8 KB of 17-digit numbers: what a naive numpy
    # client posts).
    pixels = np.random.default_rng(0).random(784).astype(np.float32)
    body = json.dumps({"instances": [[round(float(v), 4) for v in pixels]]})
    body_float32 = json.dumps({"instances": [pixels.tolist()]})
    rows = []  # (label, connections, result)
    reference = None  # servekit's predictions, which every other stack must match
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = work / MODEL / "1"
        mnist_mlp().save(model_dir)

        # --- servekit-server (and, with --baseline-site, an earlier build beside it) ----------
        builds = [("", None)]
        if args.baseline_site:
            builds.insert(0, (" [baseline]", {**os.environ, "PYTHONPATH": args.baseline_site}))
        for suffix, env in builds if "servekit" in only else []:
            port = free_port()
            flags = [f"--model_name={MODEL}", f"--model_base_path={work / MODEL}", f"--rest_api_port={port}"]
            flags.append("--port=0")  # no gRPC here: bench/grpc_bench.py
            if args.threads:
                flags.append(f"--rest_api_num_threads={args.threads}")
            with server_process(servekit_command(flags), env=env) as server:
                base = f"http://127.0.0.1:{port}"
                wait_until_up(f"{base}/v2/health/ready")
                answer = first_answer(base + PREDICT_PATH, body)
                reference = answer if reference is None else reference

                def row(label, url, connections, data, pid=server.pid, suffix=suffix):
                    result = measured(pid, partial(wrk, url, connections, args.seconds, data, work), args.seconds)
                    rows.append((label + suffix, connections, result))
                    print(f"  done: {label + suffix} @ {connections}: {result['rps']:,.0f} req/s", flush=True)

                for connections in connection_counts:
                    row(SERVEKIT, base + PREDICT_PATH, connections, body)
                    row(FLOOR, f"{base}/v2/health/live", connections, None)
                row("servekit-server predict (REST), float32 tolist() body", base + PREDICT_PATH, 16, body_float32)
                # The predict body sent where nothing reads it (405, every byte still received):
                # the floor for a request of this size, the part no JSON or model work can remove.
                row(BODY_FLOOR, f"{base}/v2/health/live", 16, body)
                row("servekit-server GET model status", f"{base}/v1/models/{MODEL}", 16, None)

        # --- Python stacks ---------------------------------------------------------------
        write_app(work / "flask_ort.py", FLASK_APP, ORT_RUNNER, model_dir)
        write_app(work / "flask_servekit.py", FLASK_APP, SERVEKIT_RUNNER, model_dir)
        write_app(work / "fastapi_ort.py", FASTAPI_APP, ORT_RUNNER, model_dir)
        if reference is None:
            reference = servekit.load(model_dir).predict(np.asarray(json.loads(body)["instances"], dtype=np.float32))
        for key, (label, command) in python_stacks(work).items():
            if key not in only:
                continue
            port = free_port()
            with server_process([part.replace("{port}", str(port)) for part in command], cwd=work) as process:
                url = f"http://127.0.0.1:{port}{PREDICT_PATH}"
                answer = first_answer(url, body)
                if not np.allclose(answer, reference, atol=1e-5):
                    sys.exit(f"{label} answered {answer.tolist()}, servekit {np.asarray(reference).tolist()}")
                for connections in connection_counts:
                    run = partial(wrk, url, connections, args.seconds, body, work)
                    result = measured(process.pid, run, args.seconds)
                    rows.append((label, connections, result))
                    print(f"  done: {label} @ {connections}: {result['rps']:,.0f} req/s", flush=True)

        report(rows, args.plot_dir)
        if args.rounds > 1 and {"servekit", "fastapi-ort"} <= set(only):
            ratio_rounds(args.rounds, args.seconds, work, model_dir, body)


if __name__ == "__main__":
    main()
