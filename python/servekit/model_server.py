"""servekit.ModelServer: the TensorFlow Serving-compatible REST server, from Python.

The server runs on native threads: once ``start()`` returns, requests are
parsed, run and answered in C++ without the GIL, so it serves at full speed
from a script, a Flask app or a Jupyter cell while Python goes on.

    with servekit.ModelServer(model_name="digits", model_base_path="models/digits",
                              rest_api_port=0) as server:
        requests.post(f"{server.url}/v1/models/digits:predict", json={"instances": [...]})
"""

from __future__ import annotations

import os

from servekit import _core
from servekit.serving import ServingCore, _check_model_source, _core_options, _is_config_file, _model_configs

__all__ = ["ModelServer"]

DEFAULT_REST_API_PORT = 8501
DEFAULT_GRPC_PORT = 8500
DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


class ModelServer:
    """Serves versioned models over TF Serving's REST and gRPC APIs.

    ``config`` is a text-format ModelServerConfig, a path to a config file
    (re-read every ``model_config_file_poll_wait_seconds`` when positive) or a
    list of model dicts; ``model_name``/``model_base_path`` serve one model.
    ``rest_api_port=0`` picks a free port (see ``rest_port``); None turns REST
    off. ``grpc_port`` serves TF Serving's gRPC API (0 picks a free port, see
    ``grpc_port``; None, the default here, serves no gRPC); ``grpc_num_threads``
    is TF Serving's ``--grpc_max_threads``. ``max_connections`` caps the open
    connections on each port (None: derived from the open-file limit, which
    the server raises to its hard limit; at the cap the connection idle the
    longest is closed to let a new one in); connections with no request under
    way are closed after ``idle_timeout_seconds``. A request whose inputs hold
    more than ``max_request_values`` values, or whose JSON answer could exceed
    ``max_response_bytes``, is refused (RESOURCE_EXHAUSTED, HTTP 429) before
    that memory is allocated. The remaining parameters are
    ServingCore's and TF Serving's flags of the same names.
    """

    def __init__(
        self,
        config=None,
        *,
        model_name: str | None = None,
        model_base_path: str | os.PathLike | None = None,
        rest_api_port: int | None = DEFAULT_REST_API_PORT,
        grpc_port: int | None = None,
        host: str = "127.0.0.1",
        rest_api_num_threads: int | None = None,
        rest_api_timeout_in_ms: int = 30_000,
        max_request_bytes: int = 64 << 20,
        model_config_file_poll_wait_seconds: float = 0.0,
        enable_model_management: bool = False,
        prometheus_path: str = DEFAULT_PROMETHEUS_PATH,
        drain_timeout_seconds: float = 30.0,
        grpc_max_message_bytes: int = 64 << 20,
        grpc_num_threads: int | None = None,
        max_connections: int | None = None,
        idle_timeout_seconds: float = 120.0,
        max_request_values: int = 1 << 24,
        max_response_bytes: int = 256 << 20,
        num_load_threads: int = 2,
        max_num_load_retries: int = 5,
        load_retry_interval_micros: int = 60_000_000,
        file_system_poll_wait_seconds: float = 1.0,
        resource_preserving: bool = False,
        allow_version_labels_for_unavailable_models: bool = False,
        intra_op_threads: int = 1,
        load_wait_seconds: float = 300.0,
    ):
        _check_model_source(config, model_name, model_base_path, model_config_file_poll_wait_seconds)
        if config is None and model_name is None:
            raise ValueError("give a config or model_name/model_base_path")
        for name, port in (("rest_api_port", rest_api_port), ("grpc_port", grpc_port)):
            if port is not None and not 0 <= port <= 65535:
                raise ValueError(f"{name} must be in [0, 65535] or None; got {port}")
        if rest_api_port is None and grpc_port is None:
            raise ValueError("nothing to serve on: give rest_api_port and/or grpc_port")
        if rest_api_timeout_in_ms <= 0:
            raise ValueError("rest_api_timeout_in_ms must be positive")
        for name, threads in (("rest_api_num_threads", rest_api_num_threads), ("grpc_num_threads", grpc_num_threads)):
            if threads is not None and threads <= 0:
                raise ValueError(f"{name} must be positive or None; got {threads}")
        self._config_file = os.fspath(config) if _is_config_file(config) else ""
        if self._config_file:
            self._models = []
        elif model_name is not None:
            self._models = _model_configs([{"name": model_name, "base_path": model_base_path}])
        else:
            self._models = _model_configs(config)
        self._options = dict(
            model_config_file_poll_wait_seconds=model_config_file_poll_wait_seconds,
            core=_core_options(
                num_load_threads,
                max_num_load_retries,
                load_retry_interval_micros,
                file_system_poll_wait_seconds,
                resource_preserving,
                allow_version_labels_for_unavailable_models,
                intra_op_threads,
                load_wait_seconds,
            ),
            enable_rest=rest_api_port is not None,
            rest_api_address=host,
            rest_api_port=rest_api_port or 0,
            rest_api_num_threads=rest_api_num_threads or default_server_threads(),
            rest_api_timeout_seconds=rest_api_timeout_in_ms / 1000,
            max_request_bytes=max_request_bytes,
            enable_model_management=enable_model_management,
            prometheus_path=prometheus_path,
            drain_timeout_seconds=drain_timeout_seconds,
            enable_grpc=grpc_port is not None,
            grpc_port=grpc_port or 0,
            grpc_max_message_bytes=grpc_max_message_bytes,
            grpc_num_threads=grpc_num_threads or default_server_threads(),
            max_connections=max_connections or 0,
            idle_timeout_seconds=idle_timeout_seconds,
            max_request_values=max_request_values,
            max_response_bytes=max_response_bytes,
        )
        self._host = host
        self._native: _core.ModelServer | None = None
        self._core: ServingCore | None = None

    def start(self) -> ModelServer:
        """Loads the models (waiting for their loads to settle), opens the REST
        port and returns; native threads serve from then on."""
        if self._native is not None:
            raise RuntimeError("the server is already started")
        self._native = _core.ModelServer(self._models, self._config_file, **self._options)
        self._core = ServingCore._over(self._native.core())
        return self

    def stop(self) -> bool:
        """Drains: stops accepting, answers the requests in flight (up to
        drain_timeout_seconds), unloads the models. True if nothing was cut off."""
        if self._native is None:
            return True
        drained = self._native.stop()
        return drained

    @property
    def rest_port(self) -> int:
        return self._started().rest_port

    @property
    def grpc_port(self) -> int:
        """The bound gRPC port (0 when gRPC is off)."""
        return self._started().grpc_port

    @property
    def grpc_target(self) -> str:
        """host:port for grpc.insecure_channel()."""
        return f"{self._client_host()}:{self.grpc_port}"

    @property
    def url(self) -> str:
        """The REST API's base URL, e.g. http://127.0.0.1:8501."""
        return f"http://{self._client_host()}:{self.rest_port}"

    def _client_host(self) -> str:
        host = "127.0.0.1" if self._host in ("0.0.0.0", "") else self._host
        if ":" in host:
            host = "[::1]" if host == "::" else f"[{host}]"
        return host

    @property
    def core(self) -> ServingCore:
        """The serving core behind the server: predict, status, labels, add/remove
        models and versions from Python while HTTP clients are served."""
        self._started()
        return self._core

    def config_file_status(self) -> tuple[str, str]:
        """(code, message) of the config file's last read ("OK" without a file)."""
        return tuple(self._started().config_file_status())

    def _started(self) -> _core.ModelServer:
        if self._native is None:
            raise RuntimeError("the server is not started; call start() or use it in a with block")
        return self._native

    def __enter__(self) -> ModelServer:
        if self._native is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def default_server_threads() -> int:
    """REST and gRPC server threads when none are asked for: one per core
    (inference runs on them, one core each), at least two so one slow request
    never holds up every connection. More threads than cores measured slower on 2 cores
    (bench/rest_bench.py: 16.5k vs 13.7k predicts/s at 16 connections)."""
    return max(2, os.cpu_count() or 1)
