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
from servekit.serving import (
    ServingCore,
    _check_model_source,
    _check_option_names,
    _is_config_file,
    _model_configs,
    _options_doc,
)

__all__ = ["ModelServer"]

_DEFAULTS = {option["name"]: option["default"] for option in _core.server_options()}
DEFAULT_HOST = _DEFAULTS["host"]
DEFAULT_PROMETHEUS_PATH = _DEFAULTS["prometheus_path"]


class ModelServer:
    """Serves versioned models over TF Serving's REST and gRPC APIs.

    ``config`` is a text-format ModelServerConfig, a path to a config file
    (re-read every ``model_config_file_poll_wait_seconds`` when positive) or a
    list of model dicts; ``model_name``/``model_base_path`` serve one model.
    Every other keyword is an option of servekit's option table, the same as
    servekit-server's flags (listed below with their defaults): the native
    server checks them when it starts (ValueError naming the option).
    ``rest_api_port=0`` picks a free port (see ``rest_port``); None turns REST
    off. gRPC is served only when ``grpc_port`` is given (0 picks a free port,
    see ``grpc_port``).
    """

    def __init__(
        self,
        config=None,
        *,
        model_name: str | None = None,
        model_base_path: str | os.PathLike | None = None,
        **options,
    ):
        _check_model_source(config, model_name, model_base_path, options.get("model_config_file_poll_wait_seconds"))
        if config is None and model_name is None:
            raise ValueError("give a config or model_name/model_base_path")
        self._config_file = os.fspath(config) if _is_config_file(config) else ""
        if self._config_file:
            self._models = []
        elif model_name is not None:
            self._models = _model_configs([{"name": model_name, "base_path": model_base_path}])
        else:
            self._models = _model_configs(config)
        _check_option_names("ModelServer", options)
        self._options = options
        self._flag_names = False  # servekit-server names options by their flags in errors
        self._host = options.get("host") or DEFAULT_HOST
        self._native: _core.ModelServer | None = None
        self._core: ServingCore | None = None
        self._stopped = False

    def start(self) -> ModelServer:
        """Loads the models (waiting for their loads to settle), opens the REST
        port and returns; native threads serve from then on."""
        if self._native is not None:
            raise RuntimeError("the server is already started")
        self._native = _core.ModelServer(self._models, self._config_file, self._options, self._flag_names)
        self._core = ServingCore._over(self._native.core())
        return self

    def stop(self) -> bool:
        """Drains: stops accepting, answers the requests in flight (up to
        drain_timeout_seconds), unloads the models. True if nothing was cut off."""
        if self._native is None:
            return True
        drained = self._native.stop()
        self._stopped = True
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

    def _endpoints(self) -> str:
        if self._native is None:
            return "not started"
        rest = self.url if self.rest_port else "REST off"
        grpc = f"gRPC {self.grpc_target}" if self.grpc_port else "gRPC off"
        return f"{rest}, {grpc}"

    def __repr__(self) -> str:
        from servekit._display import core_text

        if self._native is None or self._stopped:
            return f"<ModelServer {'stopped' if self._stopped else 'not started'}>"
        return f"<ModelServer {self._endpoints()}; {core_text(self._core)}>"

    def _repr_html_(self) -> str:
        from servekit._display import core_html

        if self._native is None or self._stopped:
            return f"<b>ModelServer</b>: {'stopped' if self._stopped else 'not started'}"
        return core_html(f"ModelServer {self._endpoints()}", self._core)

    def __enter__(self) -> ModelServer:
        if self._native is None:
            self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


ModelServer.__doc__ += "\n    Options:\n\n" + _options_doc() + "\n"
