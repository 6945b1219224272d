"""gRPC benchmark: TF Serving's Predict over gRPC beside the same predict over
REST, on one servekit-server, at 1, 16 and 64 connections, with load
generators on the same machine.

gRPC clients, each used when available:
  h2load     (nghttp2, /usr/bin/h2load) a light native HTTP/2 client, like wrk: a
             pre-framed request body, one call at a time per connection; p50/p99
             from its per-request log; failures counted from the server's own
             counter of OK gRPC predicts (h2load sees every gRPC answer as HTTP 200)
  grpc_load  bench/grpc_load.cc, a native grpc++ client (heavier: on 2 cores it
             takes CPU from the server); built only by `make bench`
             (SERVEKIT_BUILD_BENCHMARKS=ON) at build/skbuild/grpc_load
  python     grpcio's asyncio client, one channel per connection: far heavier
             still, so its rows measure the client more than the server; used
             when neither native client is there, or when asked (--clients)
The request is a PredictRequest with tensor_content (raw float32), written by
grpc_load --frame when grpc_load is built, else by tensorflow-serving-api's
predict_pb2 (which imports TensorFlow: a few seconds at start).
REST is wrk posting JSON ("instances"), in two bodies: 4 decimals per value, as
rest_bench.py (the cheapest JSON a client could send), and what a numpy client
sends, json.dumps of a float32 array's tolist() (16-17 digits per value).

Models: the MNIST MLP at batch 1 and the small Keras CNN (28x28x1) at batch 32.
Every row shows requests/s, p50/p99, the server's CPU time per request
(from /proc: what each protocol costs the server, whatever the client
costs) and the client's (which shares the server's cores, so a heavier
client lowers the rate a server can show). A second table puts gRPC (best
client) beside REST per connection count; a third drives each model with
h2load on one connection carrying 16 calls at a time (a client multiplexing
one channel, which HTTP/1.1 REST cannot do).

    python bench/grpc_bench.py [--seconds 10] [--connections 1,16,64] [--clients auto|h2load,grpc_load,python]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from functools import partial
from pathlib import Path

import numpy as np

import servekit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_harness import (  # noqa: E402
    free_port,
    load_generator,
    measured,
    own_cpu_seconds,
    print_header,
    servekit_command,
    server_process,
    wait_until_up,
    wrk,
)
from bench_models import keras_cnn, mnist_mlp  # noqa: E402
from plots import DEFAULT_DIR, throughput_by_connections  # noqa: E402

GRPC_LOAD = Path(__file__).resolve().parent.parent / "build" / "skbuild" / "grpc_load"
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
CLIENT_LABELS = {
    "h2load": "gRPC Predict (h2load)",
    "grpc_load": "gRPC Predict (grpc_load, grpc++)",
    "python": "gRPC Predict (Python grpcio aio)",
    "rest": "REST predict (wrk, JSON)",
    "rest_tolist": "REST predict (wrk, JSON of float32 tolist())",
}
REST_CLIENTS = ("rest", "rest_tolist")


def predict_request(grpc_load: Path | None, model: str, input_name: str, shape, work: Path) -> bytes:
    """A serialized PredictRequest for `model` with one float32 input of `shape`, in tensor_content."""
    if grpc_load is not None:
        framed = work / f"{model}.frame"
        subprocess.run(
            [str(grpc_load), "--frame", str(framed), model, input_name, "x".join(map(str, shape))], check=True
        )
        return framed.read_bytes()[5:]  # grpc_load writes the 5-byte gRPC prefix first
    from tensorflow_serving.apis import predict_pb2  # imports TensorFlow: only when grpc_load is missing

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    tensor = request.inputs[input_name]
    tensor.dtype = 1  # DT_FLOAT
    for d in shape:
        tensor.tensor_shape.dim.add().size = d
    tensor.tensor_content = np.random.default_rng(0).random(shape, dtype=np.float32).tobytes()
    return request.SerializeToString()


def grpc_frame(message: bytes) -> bytes:
    """gRPC's length-prefixed message: not compressed, 4-byte big-endian length."""
    return b"\0" + len(message).to_bytes(4, "big") + message


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


def percentiles_ms(latencies_s: list[float]) -> tuple[float, float]:
    if not latencies_s:
        return 0.0, 0.0
    ordered = np.sort(np.asarray(latencies_s))
    return float(ordered[int(0.5 * (len(ordered) - 1))] * 1e3), float(ordered[int(0.99 * (len(ordered) - 1))] * 1e3)


def h2load(
    target: str,
    model: str,
    body: Path,
    connections: int,
    seconds: float,
    work: Path,
    metrics_url: str,
    streams: int = 1,
) -> dict:
    """The Predict from h2load: pre-framed request body, gRPC headers, `streams`
    calls at a time on each connection. Calls that did not get grpc-status OK
    count as failed."""
    log = work / "h2load.log"
    log.unlink(missing_ok=True)  # h2load appends to an existing log
    ok_before = grpc_predicts_ok(metrics_url, model)
    out, client_seconds = load_generator(
        [
            "h2load",
            f"-c{connections}",
            f"-m{streams}",
            "-t1",
            f"-D{max(1, round(seconds))}",
            f"--log-file={log}",
            "-d",
            str(body),
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            f"http://{target}{PREDICT_METHOD}",
        ],
        timeout=seconds + 60,
    )
    rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out).group(1))
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out).group(1))
    # Per request: start (µs since the epoch), HTTP status, µs until the end of the response.
    latencies = [int(line.split("\t")[2]) * 1e-6 for line in log.read_text().splitlines() if line.count("\t") >= 2]
    p50, p99 = percentiles_ms(latencies)
    # Calls still in flight when h2load stops are answered (and counted) but not
    # "done"; every done call was counted before its answer was sent.
    failed = max(0, done - (grpc_predicts_ok(metrics_url, model) - ok_before))
    client_us = client_seconds / max(1, done) * 1e6
    return {"rps": rps, "requests": done, "p50": p50, "p99": p99, "failed": failed, "client_us": client_us}


def grpc_load_run(grpc_load: Path, target: str, model: str, input_name: str, shape, connections: int, seconds: float):
    out, client_seconds = load_generator(
        [str(grpc_load), target, model, input_name, "x".join(map(str, shape)), str(connections), str(seconds)],
        timeout=seconds + 60,
    )
    result = json.loads(out)
    result["client_us"] = client_seconds / max(1, result.get("requests") or result["rps"] * seconds) * 1e6
    return result


def python_grpc(target: str, message: bytes, connections: int, seconds: float) -> dict:
    """Closed loop from grpcio's asyncio API: one channel (HTTP/2 connection) per
    connection, one call in flight on each, raw bytes in and out (no protobuf
    work in the client beyond gRPC's own)."""
    import grpc

    async def run() -> dict:
        options = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", 256 << 20)]
        channels = [grpc.aio.insecure_channel(target, options=options) for _ in range(connections)]
        for channel in channels:
            await asyncio.wait_for(channel.channel_ready(), timeout=10)
        latencies: list[float] = []
        failed = 0
        end = time.monotonic() + seconds

        async def loop(channel) -> None:
            nonlocal failed
            predict = channel.unary_unary(PREDICT_METHOD)  # no serializers: bytes pass through
            while (started := time.monotonic()) < end:
                try:
                    await predict(message, timeout=10)
                except grpc.aio.AioRpcError:
                    failed += 1
                latencies.append(time.monotonic() - started)

        began = time.monotonic()
        await asyncio.gather(*(loop(channel) for channel in channels))
        elapsed = time.monotonic() - began
        for channel in channels:
            await channel.close()
        p50, p99 = percentiles_ms(latencies)
        return {"rps": len(latencies) / elapsed, "requests": len(latencies), "p50": p50, "p99": p99, "failed": failed}

    # The client runs in this process: its CPU is this process's (grpcio's
    # threads included) while it runs.
    before = own_cpu_seconds(resource.RUSAGE_SELF)
    result = asyncio.run(run())
    result["client_us"] = (own_cpu_seconds(resource.RUSAGE_SELF) - before) / max(1, result["requests"]) * 1e6
    return result


def choose_clients(requested: str, grpc_load: Path) -> list[str]:
    have = {"h2load": shutil.which("h2load") is not None, "grpc_load": grpc_load.exists(), "python": True}
    if requested == "auto":
        clients = [c for c in ("h2load", "grpc_load") if have[c]] or ["python"]
    else:
        clients = requested.split(",")
        for c in clients:
            if c not in have:
                sys.exit(f"unknown client {c!r}: choose from {', '.join(have)}")
        missing = [c for c in clients if not have[c]]
        clients = [c for c in clients if have[c]]
        for c in missing:
            print(f"NOTE: client {c} requested but not available; skipped")
        if not clients:
            sys.exit("no gRPC client available")
    if not have["grpc_load"]:
        print(
            f"NOTE: {grpc_load} is not built (only `make bench`, SERVEKIT_BUILD_BENCHMARKS=ON, builds it): "
            "no grpc++ rows; requests are written with tensorflow-serving-api's predict_pb2 instead."
        )
    if not have["h2load"]:
        print("NOTE: h2load is not installed (scripts/setup.sh --dev: nghttp2-client): no h2load rows.")
    if clients == ["python"]:
        print("NOTE: only the Python grpcio client is available: its gRPC rows measure mostly the client.")
    return clients


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="duration per cell")
    parser.add_argument("--connections", default="1,16,64", help="connection counts (comma-separated)")
    parser.add_argument(
        "--clients", default="auto", help="gRPC clients: auto (h2load and grpc_load when there, else python) or a list"
    )
    parser.add_argument("--grpc-load", type=Path, default=GRPC_LOAD, help="path of the built grpc_load")
    parser.add_argument("--models", default="mlp,cnn", help="mlp (MNIST MLP, batch 1), cnn (Keras CNN, batch 32)")
    parser.add_argument("--plot-dir", type=Path, default=DEFAULT_DIR, help="where the PNG plot goes")
    args = parser.parse_args()
    connection_counts = [int(c) for c in args.connections.split(",")]
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (scripts/setup.sh --dev installs it)")

    print_header("gRPC vs REST predict on one servekit-server")
    clients = choose_clients(args.clients, args.grpc_load)
    grpc_load = args.grpc_load if args.grpc_load.exists() else None
    print(f"gRPC clients: {', '.join(clients)}; REST: wrk -t1; {args.seconds:g} s per cell; {connection_counts}\n")

    rng = np.random.default_rng(0)
    all_cases = {  # key: name, model, per-instance shape, batch
        "mlp": ("MNIST MLP", mnist_mlp(), (784,), 1),
        "cnn": ("Keras CNN", keras_cnn(), (28, 28, 1), 32),
    }
    cases = [all_cases[k] for k in args.models.split(",")]
    rows, multiplexed = [], []  # rows: (model name, batch, client, connections, result)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = ["model_config_list {"]
        for i, (_, model, _, _) in enumerate(cases):
            model.save(work / f"m{i}" / "1")
            config.append(f'  config {{ name: "m{i}" base_path: "{work / f"m{i}"}" }}')
        (work / "models.config").write_text("\n".join(config + ["}"]))
        rest_port, grpc_port = free_port(), free_port()
        flags = [f"--model_config_file={work / 'models.config'}", f"--rest_api_port={rest_port}", f"--port={grpc_port}"]
        with server_process(servekit_command(flags)) as server:
            wait_until_up(f"http://127.0.0.1:{rest_port}/v2/health/ready")
            target = f"127.0.0.1:{grpc_port}"
            metrics = f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics"
            for i, (name, _, shape, batch) in enumerate(cases):
                model_name = f"m{i}"
                input_name = servekit.load(work / model_name / "1").signature.input_names[0]
                message = predict_request(grpc_load, model_name, input_name, (batch, *shape), work)
                framed = work / f"{model_name}.grpc"
                framed.write_bytes(grpc_frame(message))
                values = rng.random((batch, *shape))
                bodies = {
                    "rest": json.dumps({"instances": np.round(values, 4).tolist()}),  # as rest_bench
                    "rest_tolist": json.dumps({"instances": values.astype(np.float32).tolist()}),
                }
                url = f"http://127.0.0.1:{rest_port}/v1/models/{model_name}:predict"
                runs = {
                    "h2load": partial(h2load, target, model_name, framed),
                    "grpc_load": partial(grpc_load_run, grpc_load, target, model_name, input_name, (batch, *shape)),
                    "python": partial(python_grpc, target, message),
                }
                for connections in connection_counts:
                    for client in [*clients, *REST_CLIENTS]:
                        if client in REST_CLIENTS:
                            run = partial(wrk, url, connections, args.seconds, bodies[client], work)
                        elif client == "h2load":
                            run = partial(runs[client], connections, args.seconds, work, metrics)
                        else:
                            run = partial(runs[client], connections, args.seconds)
                        result = measured(server.pid, run, args.seconds)
                        if client in REST_CLIENTS:
                            result["failed"] = result["bad"] + result["socket_errors"]
                        rows.append((name, batch, client, connections, result))
                        print(f"  done: {name} {CLIENT_LABELS[client]} @ {connections}: {result['rps']:,.0f} req/s")
                if "h2load" in clients:
                    # One connection carrying 16 calls at a time: a client multiplexing one channel.
                    run = partial(h2load, target, model_name, framed, 1, args.seconds, work, metrics, 16)
                    multiplexed.append((name, batch, measured(server.pid, run, args.seconds)))

    print(
        "\n| model | batch | client | connections | requests/s | p50 ms | p99 ms | server CPU µs/req "
        "| client CPU µs/req | failed |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, batch, client, connections, r in rows:
        print(
            f"| {name} | {batch} | {CLIENT_LABELS[client]} | {connections} | {r['rps']:,.0f} | {r['p50']:.2f} "
            f"| {r['p99']:.2f} | {r['server_us']:,.0f} | {r['client_us']:,.1f} | {r['failed']} |"
        )

    print("\ngRPC vs REST per call (gRPC: the client with the most requests/s in that cell)")
    print("REST 4 dp: 4 decimals per value (rest_bench.py's body); REST tolist: json.dumps of float32 tolist()\n")
    print(
        "| model | batch | connections | gRPC req/s | client | REST 4 dp req/s | gRPC/REST 4 dp "
        "| REST tolist req/s | gRPC/REST tolist | server µs/req: gRPC | REST 4 dp | REST tolist |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, _, _, batch in cases:
        for connections in connection_counts:
            cell = [(c, r) for n, _, c, k, r in rows if n == name and k == connections]
            rest = next(r for c, r in cell if c == "rest")
            tolist = next(r for c, r in cell if c == "rest_tolist")
            client, best = max(((c, r) for c, r in cell if c not in REST_CLIENTS), key=lambda cr: cr[1]["rps"])
            print(
                f"| {name} | {batch} | {connections} | {best['rps']:,.0f} | {client} | {rest['rps']:,.0f} "
                f"| {best['rps'] / max(rest['rps'], 1e-9):.2f} | {tolist['rps']:,.0f} "
                f"| {best['rps'] / max(tolist['rps'], 1e-9):.2f} | {best['server_us']:,.0f} "
                f"| {rest['server_us']:,.0f} | {tolist['server_us']:,.0f} |"
            )
    series: dict[str, list[tuple[int, float]]] = {}
    for name, batch, client, connections, r in rows:
        label = f"{name} (batch {batch}), {CLIENT_LABELS[client]}"
        series.setdefault(label, []).append((connections, r["rps"]))
    throughput_by_connections(
        series,
        "gRPC and REST predict on one servekit-server against connections",
        args.plot_dir / "grpc_rest_throughput.png",
    )

    if multiplexed:
        print("\ngRPC, one connection with 16 calls in flight (h2load -c1 -m16; REST/HTTP 1.1 cannot multiplex)\n")
        print("| model | batch | req/s | p50 ms | p99 ms | server CPU µs/req | failed |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, batch, m in multiplexed:
            print(
                f"| {name} | {batch} | {m['rps']:,.0f} | {m['p50']:.2f} | {m['p99']:.2f} "
                f"| {m['server_us']:,.0f} | {m['failed']} |"
            )


if __name__ == "__main__":
    main()
