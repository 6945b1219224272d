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
from servekit.model_server import DEFAULT_PROMETHEUS_PATH, ModelServer

EXIT_USAGE = 2


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


_ARG_TYPES = {"int": int, "port": int, "threads": int, "seconds": float, "text": str}


def _parser() -> argparse.ArgumentParser:
    """servekit-server's own flags, then one flag per option of the native
    option table (the same options as ModelServer's keywords)."""
    p = argparse.ArgumentParser(
        prog="servekit-server",
        description="Serve versioned models over TensorFlow Serving's REST and gRPC APIs.",
        allow_abbrev=False,
    )
    add = p.add_argument
    add("--version", action="store_true", help="print the version and exit")
    add("--model_name", default=None, help="name of the one model to serve (with --model_base_path)")
    add("--model_base_path", default=None, help="directory holding the model's version directories <N>/")
    add("--model_config_file", default=None, help="text-format ModelServerConfig (model_config_list)")
    add(
        "--monitoring_config_file",
        default=None,
        help=f"MonitoringConfig text (Prometheus is on at {DEFAULT_PROMETHEUS_PATH} without one)",
    )
    add("--enable_batching", type=_bool, nargs="?", const=True, default=False, help="not supported yet")
    add("--batching_parameters_file", default=None, help="not supported yet")
    for option in _core.server_options():
        if option["flag"] is None:
            continue
        help_text = f"{option['help']} (default: {option['flag_default']})"
        if option["kind"] == "bool":
            kwargs = dict(type=_bool, nargs="?", const=True)
        else:
            kwargs = dict(type=_ARG_TYPES[option["kind"]])
        add(f"--{option['flag']}", dest=option["name"], default=option["flag_default"], help=help_text, **kwargs)
    return p


def _usage_error(message: str) -> None:
    print(f"servekit-server: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def _check(args: argparse.Namespace) -> None:
    """Usage errors TF Serving would also refuse, and the flags servekit does not
    support yet; the options' values are checked natively when the server starts."""
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
    options = {option["name"]: getattr(args, option["name"]) for option in _core.server_options() if option["flag"]}
    what = args.model_config_file or args.model_base_path
    print(
        f"servekit-server: loading the models of {what}; serving starts once their versions have loaded",
        file=sys.stderr,
        flush=True,
    )
    try:
        server = ModelServer(**source, **options, prometheus_path=prometheus_path)
        server._flag_names = True  # errors name --flags, not keywords
        server.start()
    except (servekit.Error, ValueError) as e:
        _usage_error(str(e))

    log = sys.stderr
    for name in server.core.models:
        versions = server.core.status(name) if _known(server, name) else []
        states = ", ".join(f"{s.version}:{s.state}" for s in versions) or "-"
        print(f"servekit-server: model {name!r}: versions {states}", file=log)
        for s in versions:
            if s.error_code != "OK":
                print(f"servekit-server: model {name!r} version {s.version} did not load: {s.error_message}", file=log)
    print(f"servekit-server: gRPC API on {args.host}:{server.grpc_port}", file=log)
    print(f"servekit-server: REST API on {args.host}:{server.rest_port}", file=log, flush=True)
    if on_started is not None:
        on_started(server)

    # Versions that come, go or fail later (hot swaps, config changes): one line each.
    seen = max((e.time for e in server.core.events()), default=0.0)
    while not stop.wait(0.5):
        seen = _log_version_events(server, seen, log)
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


def _log_version_events(server: ModelServer, seen: float, log) -> float:
    """Prints the version transitions newer than `seen` that an operator wants
    to know of (loading, now serving, unloaded, failed with its reason);
    returns the newest event time."""
    for event in server.core.events():
        if event.time <= seen:
            continue
        seen = event.time
        where = f"servekit-server: model {event.model!r} version {event.version}"
        if event.error_code != "OK":
            print(f"{where} did not load: {event.error_message}", file=log, flush=True)
        elif event.state in ("LOADING", "AVAILABLE", "END"):
            print(f"{where}: {event.state}", file=log, flush=True)
    return seen


def _known(server: ModelServer, name: str) -> bool:
    try:
        server.core.status(name)
        return True
    except servekit.NotFoundError:
        return False


if __name__ == "__main__":
    sys.exit(main())
