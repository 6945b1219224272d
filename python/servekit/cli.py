"""servekit-server: TensorFlow Serving's model server command line, on servekit
(REST on --rest_api_port, gRPC on --port).

    servekit-server --model_name=digits --model_base_path=/models/digits
    servekit-server --model_config_file=/etc/models.config --model_config_file_poll_wait_seconds=60

Flags keep TF Serving's names and defaults where they apply. SIGTERM or SIGINT
drains the server: it stops accepting, answers the requests in flight (up to
--drain_timeout_seconds), unloads the models and exits 0. Bad flags or paths
print a message and exit 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

import servekit
from servekit import _core
from servekit.model_server import DEFAULT_PROMETHEUS_PATH, ModelServer, default_server_threads

EXIT_USAGE = 2


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="servekit-server",
        description="Serve versioned models over TensorFlow Serving's REST API.",
        allow_abbrev=False,
    )
    add = p.add_argument
    add("--version", action="store_true", help="print the version and exit")
    add("--port", type=int, default=8500, help="gRPC port; 0 picks a free one (printed at start)")
    add("--rest_api_port", type=int, default=8501, help="REST port; 0 picks a free one (printed at start)")
    add("--bind_address", default="0.0.0.0", help="address both ports bind (default: all)")
    add(
        "--grpc_max_message_bytes",
        type=int,
        default=64 << 20,
        help="largest gRPC request or response (RESOURCE_EXHAUSTED beyond)",
    )
    add(
        "--grpc_max_threads",
        type=int,
        default=None,
        help=f"gRPC server threads (default here: {default_server_threads()}, one per core)",
    )
    add(
        "--rest_api_num_threads",
        type=int,
        default=None,
        help=f"REST worker threads (default here: {default_server_threads()})",
    )
    add(
        "--rest_api_timeout_in_ms",
        type=int,
        default=30000,
        help="time allowed to read a request and to write its response",
    )
    add("--model_name", default=None, help="name of the one model to serve (with --model_base_path)")
    add("--model_base_path", default=None, help="directory holding the model's version directories <N>/")
    add("--model_config_file", default=None, help="text-format ModelServerConfig (model_config_list)")
    add(
        "--model_config_file_poll_wait_seconds",
        type=float,
        default=0,
        help="re-read the config file this often (0: read once)",
    )
    add("--file_system_poll_wait_seconds", type=float, default=1, help="look for new versions this often")
    add("--num_load_threads", type=int, default=2, help="threads loading model versions")
    add("--max_num_load_retries", type=int, default=5, help="retries of a failing load")
    add("--load_retry_interval_micros", type=int, default=60_000_000, help="wait between load retries")
    add("--allow_version_labels_for_unavailable_models", type=_bool, nargs="?", const=True, default=False)
    add("--tensorflow_intra_op_parallelism", type=int, default=1, help="threads per inference (intra-op)")
    add("--enable_batching", type=_bool, nargs="?", const=True, default=False, help="not supported yet")
    add("--batching_parameters_file", default=None, help="not supported yet")
    add(
        "--monitoring_config_file",
        default=None,
        help=f"MonitoringConfig text (Prometheus is on at {DEFAULT_PROMETHEUS_PATH} without one)",
    )
    add(
        "--enable_model_management",
        type=_bool,
        nargs="?",
        const=True,
        default=False,
        help="allow adding/removing models and loading/unloading versions over HTTP",
    )
    add("--max_request_bytes", type=int, default=64 << 20, help="largest request body (413 beyond)")
    add(
        "--max_connections",
        type=int,
        default=0,
        help="open connections per port; at the cap the longest-idle one is closed "
        "(0: derived from the open-file limit, at most 10,000)",
    )
    add(
        "--max_request_values",
        type=int,
        default=1 << 24,
        help="values in one request's inputs, both APIs (RESOURCE_EXHAUSTED beyond, before allocating)",
    )
    add(
        "--max_response_bytes",
        type=int,
        default=256 << 20,
        help="largest REST (JSON) answer; gRPC answers are bounded by --grpc_max_message_bytes",
    )
    add(
        "--idle_timeout_seconds",
        type=float,
        default=120,
        help="close connections (REST keep-alive, gRPC with no open call) idle this long",
    )
    add("--drain_timeout_seconds", type=float, default=30, help="how long SIGTERM waits for requests in flight")
    return p


def _usage_error(message: str) -> None:
    print(f"servekit-server: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def _check(args: argparse.Namespace) -> None:
    """Usage errors TF Serving would also refuse, and the flags servekit does not support yet."""
    if args.enable_batching or args.batching_parameters_file:
        _usage_error("batching is not supported yet: drop --enable_batching/--batching_parameters_file")
    if args.model_config_file and (args.model_name or args.model_base_path):
        _usage_error("give --model_config_file or --model_name/--model_base_path, not both")
    if not args.model_config_file and not args.model_base_path:
        _usage_error("nothing to serve: give --model_base_path (and --model_name) or --model_config_file")
    if args.model_base_path and not os.path.isdir(args.model_base_path):
        _usage_error(f"--model_base_path {args.model_base_path!r} is not a directory")
    if args.model_config_file and not os.path.isfile(args.model_config_file):
        _usage_error(f"--model_config_file {args.model_config_file!r} is not a file")
    for flag in ("rest_api_port", "port"):
        if not 0 <= getattr(args, flag) <= 65535:
            _usage_error(f"--{flag} must be in [0, 65535]")
    positive = (
        "rest_api_timeout_in_ms",
        "num_load_threads",
        "tensorflow_intra_op_parallelism",
        "max_request_bytes",
        "grpc_max_message_bytes",
    )
    for flag in positive:
        if getattr(args, flag) <= 0:
            _usage_error(f"--{flag} must be positive")
    for flag in ("rest_api_num_threads", "grpc_max_threads"):
        if getattr(args, flag) is not None and getattr(args, flag) <= 0:
            _usage_error(f"--{flag} must be positive")
    for flag in (
        "model_config_file_poll_wait_seconds",
        "file_system_poll_wait_seconds",
        "drain_timeout_seconds",
        "max_num_load_retries",
        "load_retry_interval_micros",
    ):
        if getattr(args, flag) < 0:
            _usage_error(f"--{flag} must not be negative")


def _prometheus_path(monitoring_config_file: str | None) -> str:
    if not monitoring_config_file:
        return DEFAULT_PROMETHEUS_PATH
    try:
        with open(monitoring_config_file, encoding="utf-8") as f:
            enabled, path = _core.parse_monitoring_config(f.read())
    except OSError as e:
        _usage_error(f"--monitoring_config_file: {e}")
    except servekit.Error as e:
        _usage_error(f"--monitoring_config_file: {e}")
    return path if enabled else ""


def main(argv: list[str] | None = None, on_started=None) -> int:
    """Runs the server until SIGTERM/SIGINT; ``on_started(server)`` is called once it serves."""
    args = _parser().parse_args(argv)
    if args.version:
        print(f"servekit-server {servekit.__version__}")
        return 0
    _check(args)
    prometheus_path = _prometheus_path(args.monitoring_config_file)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    if args.model_config_file:
        source = dict(config=args.model_config_file)
    else:
        source = dict(model_name=args.model_name or "default", model_base_path=args.model_base_path)
    try:
        server = ModelServer(
            **source,
            rest_api_port=args.rest_api_port,
            grpc_port=args.port,
            grpc_max_message_bytes=args.grpc_max_message_bytes,
            grpc_num_threads=args.grpc_max_threads,
            host=args.bind_address,
            rest_api_num_threads=args.rest_api_num_threads,
            rest_api_timeout_in_ms=args.rest_api_timeout_in_ms,
            max_request_bytes=args.max_request_bytes,
            model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
            enable_model_management=args.enable_model_management,
            prometheus_path=prometheus_path,
            drain_timeout_seconds=args.drain_timeout_seconds,
            max_connections=args.max_connections,
            idle_timeout_seconds=args.idle_timeout_seconds,
            max_request_values=args.max_request_values,
            max_response_bytes=args.max_response_bytes,
            num_load_threads=args.num_load_threads,
            max_num_load_retries=args.max_num_load_retries,
            load_retry_interval_micros=args.load_retry_interval_micros,
            file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
            allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
            intra_op_threads=args.tensorflow_intra_op_parallelism,
        ).start()
    except (servekit.Error, ValueError) as e:
        _usage_error(str(e))

    log = sys.stderr
    for name in server.core.models:
        states = ", ".join(f"{s.version}:{s.state}" for s in server.core.status(name)) if _known(server, name) else "-"
        print(f"servekit-server: model {name!r}: versions {states}", file=log)
    print(f"servekit-server: gRPC API on {args.bind_address}:{server.grpc_port}", file=log)
    print(f"servekit-server: REST API on {args.bind_address}:{server.rest_port}", file=log, flush=True)
    if on_started is not None:
        on_started(server)

    while not stop.wait(0.5):
        pass
    print("servekit-server: draining (no new connections; answering requests in flight)", file=log, flush=True)
    drained = _stop_within(server, args.drain_timeout_seconds, log)
    print(
        f"servekit-server: stopped{'' if drained else ' (drain timeout: some requests were cut off)'}",
        file=log,
        flush=True,
    )
    return 0


# Time past --drain_timeout_seconds for the process to wind down (join threads,
# free models) before it exits without waiting for a model still running.
_EXIT_GRACE_SECONDS = 2.0


def _stop_within(server: ModelServer, drain_timeout_seconds: float, log) -> bool:
    """server.stop(), but --drain_timeout_seconds is a bound on the whole
    shutdown: a model still running when it passes cannot be interrupted, so
    the process exits (0) without waiting for it, as an orchestrator would kill
    it at the end of its grace period."""
    result: list[bool] = []
    stopper = threading.Thread(target=lambda: result.append(server.stop()), daemon=True)
    stopper.start()
    stopper.join(drain_timeout_seconds + _EXIT_GRACE_SECONDS)
    if not result:
        print(
            "servekit-server: drain timeout passed with a model still running; exiting without waiting for it",
            file=log,
            flush=True,
        )
        log.flush()
        os._exit(0)
    return result[0]


def _known(server: ModelServer, name: str) -> bool:
    try:
        server.core.status(name)
        return True
    except servekit.NotFoundError:
        return False


if __name__ == "__main__":
    sys.exit(main())
