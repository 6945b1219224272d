"""servekit.flask: TensorFlow Serving's REST API inside a Flask app.

    from flask import Flask
    from servekit.flask import ServeKit

    app = Flask(__name__)
    sk = ServeKit(app, model_name="mnist", model_base_path="models/mnist")

    @app.post("/predict")
    def predict():
        return {"y": sk.core.predict("mnist", flask.request.json["x"]).tolist()}

or, as a Flask extension, ``sk = ServeKit()`` then ``sk.init_app(app, ...)``.

The app answers TF Serving's routes (``/v1/models/...`` status, metadata,
``:predict``, ``:classify``, ``:regress``, ``/v1/models`` and the
``/v2/health/{live,ready}`` probes; with ``enable_model_management``, the
``:add``/``:remove``/``:load``/``:unload``/``:assign`` and ``/v1/config:reload``
routes), optionally under ``url_prefix``. Flask only routes: the raw body goes
to the native REST handler that servekit-server runs (JSON parsing, the
model, the JSON answer, TF Serving's error bodies and status codes), with
the GIL released.

``sk.core`` is the app's ServingCore: versions are picked up by polling the
base path, labels and load_version/unload_version work, requests in flight
finish on the version they started on. The core is shut down at exit.

Pre-forking servers (gunicorn ``--preload``): native threads do not survive
fork, so a worker process that inherits a core built from arguments starts
its own (read ``sk.core`` each time rather than keeping it). A core passed in
with ``core=`` cannot be rebuilt; a forked worker then refuses requests with
a message saying so.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import threading
import weakref
from collections.abc import Mapping
from typing import Any

import flask

from servekit import _core
from servekit.serving import ServingCore

# The native REST handler's keywords; every other keyword configures the core.
_REST_OPTIONS = ("enable_model_management", "max_request_values", "max_response_bytes")

# The routes TF Serving's REST API answers (see cpp/servekit/server/rest/rest_api.h).
_ROUTES = ("/v1/models", "/v1/models/<path:route>", "/v1/config:reload", "/v2/health/<probe>")


class ServeKit:
    """Mounts TF Serving's REST routes on a Flask app, over one ServingCore.

    ``core``: serve an existing ServingCore; else the remaining keywords are
    ServingCore's (``config``, ``model_name``/``model_base_path``, options).
    ``enable_model_management``, ``max_request_values`` and
    ``max_response_bytes`` configure the REST API as in servekit-server.
    """

    def __init__(
        self, app: flask.Flask | None = None, *, url_prefix: str = "", core: ServingCore | None = None, **arguments
    ):
        self._url_prefix = url_prefix
        self._given_core = core
        self._core_arguments: dict[str, Any] = {}
        self._rest_options: dict[str, Any] = {}
        self._take(arguments)
        self._core: ServingCore | None = None
        self._handler: _core.RestHandler | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        if app is not None:
            self.init_app(app)

    # --- set-up ------------------------------------------------------------------------

    def init_app(
        self, app: flask.Flask, *, url_prefix: str | None = None, core: ServingCore | None = None, **arguments
    ) -> None:
        """Mounts the routes on ``app``; the keywords are the constructor's. One
        ServeKit may serve several apps: they share its core."""
        if url_prefix is not None:
            self._url_prefix = url_prefix
        if core is not None:
            self._given_core = core
        self._take(arguments)
        prefix = self._url_prefix.rstrip("/")
        if prefix and not prefix.startswith("/"):
            raise ValueError(f"url_prefix must start with '/', got {self._url_prefix!r}")
        with self._lock:
            if self._handler is None:
                self._start()
        for rule in _ROUTES:
            app.add_url_rule(
                prefix + rule,
                endpoint=f"servekit{prefix}{rule}",
                view_func=_forwarding_view(weakref.ref(self), len(prefix)),
                methods=["GET", "POST"],
            )
        app.extensions["servekit"] = self

    def _take(self, arguments: Mapping[str, Any]) -> None:
        for key, value in arguments.items():
            (self._rest_options if key in _REST_OPTIONS else self._core_arguments)[key] = value

    def _start(self) -> None:
        if self._given_core is not None:
            if self._core_arguments:
                raise TypeError(f"ServeKit(core=...) takes no core arguments; got {sorted(self._core_arguments)}")
            self._core = self._given_core
        else:
            self._core = ServingCore(**self._core_arguments)
        self._handler = _core.RestHandler(self._core._native, **self._rest_options)
        self._pid = os.getpid()
        _instances.add(self)

    # --- serving -----------------------------------------------------------------------

    @property
    def core(self) -> ServingCore:
        """The ServingCore behind the routes, for the app's own routes."""
        self._check_process()
        if self._core is None:
            raise RuntimeError("ServeKit has no core yet: call init_app(app, ...) first")
        return self._core

    def handle(self, method: str, target: str, body: bytes = b"") -> tuple[int, str, bytes]:
        """One REST request through the native handler: (status, content type, body).
        ``target`` is the path and query after the URL prefix, e.g. "/v1/models/m:predict"."""
        self._check_process()
        if self._handler is None:
            raise RuntimeError("ServeKit has no core yet: call init_app(app, ...) first")
        return self._handler.handle(method, target, body)

    def _check_process(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._restart_after_fork()

    def _restart_after_fork(self) -> None:
        # The parent's native threads (version polling, loading) were not
        # copied by fork: its core cannot serve here, and destroying it would
        # wait for threads that do not exist. It is left alone for good.
        for inherited in (self._core, self._handler):
            if inherited is not None:
                ctypes.pythonapi.Py_IncRef(ctypes.py_object(inherited))
        self._core, self._handler = None, None
        if self._given_core is not None:
            raise RuntimeError(
                "servekit.flask: this process was forked after its ServingCore started (gunicorn --preload?), "
                "and a core passed as ServeKit(core=...) cannot be rebuilt here; pass the core's arguments "
                "to ServeKit instead, or start the app without --preload"
            )
        self._start()

    # --- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Readiness answers 503, then the core (if ServeKit made it) unloads its
        models once their requests in flight have finished. Idempotent; also
        run at interpreter exit."""
        with self._lock:
            if self._pid != os.getpid():
                return  # an inherited core: see _restart_after_fork
            if self._handler is not None:
                self._handler.set_draining()
            core, self._core, self._handler = self._core, None, None
            if core is not None and self._given_core is None:
                core.close()  # the native core goes once the last request holding the handler ends
            _instances.discard(self)


def _forwarding_view(owner: weakref.ref, prefix_length: int):
    """The view every mounted route shares: the request, raw, to the native handler."""

    def forward(**_route_parts):
        sk = owner()
        if sk is None:
            flask.abort(404)
        request = flask.request
        target = request.path[prefix_length:]
        if request.query_string:
            target += "?" + request.query_string.decode("latin-1")
        status, content_type, body = sk.handle(request.method, target, request.get_data(cache=False))
        return flask.Response(body, status=status, content_type=content_type)

    return forward


# Every ServeKit that made a core, closed at exit (weakly held: an app that
# drops its ServeKit drops the core with it).
_instances: weakref.WeakSet[ServeKit] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for sk in list(_instances):
        sk.close()
