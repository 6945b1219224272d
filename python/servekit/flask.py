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
routes), optionally under ``url_prefix``. Python only routes: the raw body
goes to the native REST handler that servekit-server runs (JSON parsing, the
model, the JSON answer, TF Serving's error bodies and status codes), with
the GIL released.

By default these routes are answered by a thin WSGI layer in front of the
app (``app.wsgi_app``), without Flask's request context: under gunicorn that
is 1.6x the throughput of going through Flask (bench/flask_bench.py). Flask's
``before_request``/``after_request`` hooks therefore do not see them; with
``flask_hooks=True`` the routes are ordinary Flask views instead, and the
app's hooks (authentication, logging) apply to them too.

Under gunicorn, ``-k servekit.gunicorn.Worker`` answers these routes on
servekit's native HTTP server instead, and passes the app's other requests
to it through WSGI (servekit.gunicorn).

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
import json
import os
import threading
import warnings
import weakref
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import flask

from servekit import _core
from servekit.serving import ServingCore

# The native REST handler's keywords; every other keyword configures the core.
_REST_OPTIONS = ("enable_model_management", "max_request_values", "max_response_bytes")

# The routes TF Serving's REST API answers (see cpp/servekit/server/rest/rest_api.h),
# as Flask rules and as the paths the WSGI layer takes.
_ROUTES = ("/v1/models", "/v1/models/<path:route>", "/v1/config:reload", "/v2/health/<probe>")
_EXACT_PATHS = ("/v1/models", "/v1/config:reload", "/v2/health/live", "/v2/health/ready")
_PATH_PREFIXES = ("/v1/models/", "/v1/models:")

# servekit-server's default --max_request_bytes: larger bodies are refused (413) unread.
DEFAULT_MAX_REQUEST_BYTES = 64 << 20


class ServeKit:
    """Mounts TF Serving's REST routes on a Flask app, over one ServingCore.

    ``core``: serve an existing ServingCore; else the remaining keywords are
    ServingCore's (``config``, ``model_name``/``model_base_path``, options).
    ``enable_model_management``, ``max_request_values``,
    ``max_response_bytes`` and ``max_request_bytes`` configure the REST API
    as in servekit-server. ``flask_hooks``: see the module's documentation.
    """

    def __init__(
        self,
        app: flask.Flask | None = None,
        *,
        url_prefix: str = "",
        core: ServingCore | None = None,
        flask_hooks: bool = False,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        **arguments,
    ):
        if max_request_bytes < 1:
            raise ValueError(f"max_request_bytes must be positive, got {max_request_bytes}")
        self._url_prefix = url_prefix
        self._flask_hooks = flask_hooks
        self._max_request_bytes = max_request_bytes
        self._given_core = core
        self._core_arguments: dict[str, Any] = {}
        self._rest_options: dict[str, Any] = {}
        self._take(arguments)
        self._core: ServingCore | None = None
        self._handler: _core.RestHandler | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._closed = False
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
        if "<" in prefix:
            raise ValueError(f"url_prefix is a fixed path, without Flask variables; got {self._url_prefix!r}")
        if self._rest_options.get("enable_model_management") and not self._flask_hooks:
            warnings.warn(
                "servekit.flask: enable_model_management=True without flask_hooks=True: the management routes "
                "(:add, :remove, /v1/config:reload) bypass the app's before_request hooks, so an authentication "
                "hook does not guard them",
                stacklevel=2,
            )
        with self._lock:
            if self._handler is None:
                self._start()
        routes = _RestRoutes(weakref.ref(self), prefix)
        # Flask views in either case: with the WSGI layer in front, they answer
        # only what it leaves to the app (other methods: 405, as Flask does).
        for rule in _ROUTES:
            app.add_url_rule(
                prefix + rule, endpoint=f"servekit{prefix}{rule}", view_func=routes.view, methods=["GET", "POST"]
            )
        if not self._flask_hooks:
            app.wsgi_app = routes.in_front_of(app.wsgi_app)
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
        if self._core._native is None:
            raise ValueError("ServeKit(core=...) was given a closed ServingCore")
        self._handler = _core.RestHandler(self._core._native, **self._rest_options)
        self._pid = os.getpid()
        _instances.add(self)

    # --- serving -----------------------------------------------------------------------

    @property
    def core(self) -> ServingCore:
        """The ServingCore behind the routes, for the app's own routes."""
        self._check_process()
        core = self._core
        if core is None:
            raise RuntimeError(self._why_not_serving())
        return core

    def handle(self, method: str, target: str, body: bytes = b"") -> tuple[int, str, bytes]:
        """One REST request through the native handler: (status, content type, body).
        ``target`` is the path and query after the URL prefix, e.g. "/v1/models/m:predict"."""
        self._check_process()
        handler = self._handler  # once: a concurrent close() may clear it
        if handler is None:
            raise RuntimeError(self._why_not_serving())
        return handler.handle(method, target, body)

    def _frontend_arguments(self) -> dict[str, Any]:
        """What servekit.gunicorn's worker gives its native HTTP server
        (_core.HttpFrontend) to answer this ServeKit's routes itself: the core,
        the mount prefix, the routes and the REST options."""
        return {
            "core": self.core._native,
            "mount": self._url_prefix.rstrip("/"),
            "exact_paths": list(_EXACT_PATHS),
            "path_prefixes": list(_PATH_PREFIXES),
            "native_routes": not self._flask_hooks,
            "max_request_bytes": self._max_request_bytes,
            **self._rest_options,
        }

    def _why_not_serving(self) -> str:
        if self._closed:
            return "servekit.flask: this ServeKit is closed"
        return "servekit.flask: ServeKit has no core yet: call init_app(app, ...) first"

    def _check_process(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._restart_after_fork()

    def _forget_after_fork(self) -> None:
        """In a forked child, at once: the parent's native threads (version
        polling, loading) were not copied, so its core cannot serve here, and
        destroying it (even at this process's exit) would wait for threads that
        do not exist. It is left alone for good; the first use starts another."""
        for inherited in (self._core, self._handler):
            if inherited is not None:
                ctypes.pythonapi.Py_IncRef(ctypes.py_object(inherited))
        self._core, self._handler = None, None
        self._lock = threading.Lock()  # another thread may have held the parent's at fork

    def _restart_after_fork(self) -> None:
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
            self._closed = True
            if self._pid != os.getpid():
                return  # an inherited core: see _forget_after_fork
            if self._handler is not None:
                self._handler.set_draining()
            core, self._core, self._handler = self._core, None, None
            if core is not None and self._given_core is None:
                core.close()  # the native core goes once the last request holding the handler ends
            _instances.discard(self)


def _error(status: int, message: str) -> tuple[int, str, bytes]:
    """A TF Serving-style error answer, for what Python refuses before the handler."""
    return status, "application/json", json.dumps({"error": message}).encode()


class _RestRoutes:
    """The mounted routes of one app: a Flask view, and a WSGI layer for in front of the app."""

    def __init__(self, owner: weakref.ref, prefix: str):
        self._owner = owner
        self._prefix = prefix

    def _answer(self, method: str, target: str | bytes, content_length: int | None, read) -> tuple[int, str, bytes]:
        """`read(n)`: at most n bytes of the body; called only once the length is within the limit."""
        sk = self._owner()
        if sk is None:
            return _error(404, "servekit.flask: this app's ServeKit is gone")
        limit = sk._max_request_bytes
        too_large = f"request body is larger than the limit of {limit} bytes"
        if content_length is not None and content_length > limit:
            return _error(413, too_large)
        body = read(limit + 1)
        if len(body) > limit:  # a body without a length (chunked)
            return _error(413, too_large)
        try:
            return sk.handle(method, target, body)
        except RuntimeError as error:  # closed, or forked with a core it cannot rebuild
            return _error(503, str(error))

    def _target(self, environ) -> str | bytes:
        """The path and query after the prefix as the client sent them: still
        percent-encoded, as servekit-server's router reads them. From the raw
        request line (gunicorn and werkzeug give it), else the decoded path as
        the bytes the client sent."""
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if raw and "://" in raw.split("?", 1)[0]:  # absolute form: http://host/path
            raw = "/" + raw.split("://", 1)[1].partition("/")[2]
        root = environ.get("SCRIPT_NAME", "") + self._prefix
        if raw and raw.startswith(root):
            return raw[len(root) :]
        target = environ.get("PATH_INFO", "")[len(self._prefix) :].encode("latin-1")  # WSGI's byte-preserving str
        query = environ.get("QUERY_STRING")
        return target + b"?" + query.encode("latin-1") if query else target

    def view(self, **_route_parts):
        request = flask.request
        known = request.content_length is not None
        status, content_type, body = self._answer(
            request.method,
            self._target(request.environ),
            request.content_length,
            (lambda n: request.get_data(cache=False)) if known else request.stream.read,
        )
        return flask.Response(body, status=status, content_type=content_type)

    def takes(self, path: str) -> bool:
        if not path.startswith(self._prefix):
            return False
        path = path[len(self._prefix) :]
        return path in _EXACT_PATHS or path.startswith(_PATH_PREFIXES)

    def in_front_of(self, wsgi_app):
        """A WSGI app answering these routes' GET and POST itself, the rest through `wsgi_app`."""

        def serve(environ, start_response):
            path = environ.get("PATH_INFO", "")
            method = environ.get("REQUEST_METHOD", "GET")
            if method not in ("GET", "POST") or not self.takes(path):
                return wsgi_app(environ, start_response)
            length = environ.get("CONTENT_LENGTH")
            stream = environ["wsgi.input"]
            if length:
                if not (length.isascii() and length.isdigit() and len(length) <= 18):
                    answer = _error(400, f"bad Content-Length {length[:40]!r}")
                else:
                    content_length = int(length)
                    answer = self._answer(
                        method, self._target(environ), content_length, lambda n: stream.read(content_length)
                    )
            else:
                # No length: a chunked body where the server says the stream ends (werkzeug,
                # gunicorn), else none (reading could wait for bytes that never come).
                terminated = environ.get("wsgi.input_terminated", False)
                read = stream.read if terminated else (lambda n: b"")
                answer = self._answer(method, self._target(environ), None, read)
            status, content_type, body = answer
            start_response(
                f"{status} {_REASONS.get(status, '')}",
                [("Content-Type", content_type), ("Content-Length", str(len(body)))],
            )
            return [body]

        return serve


_REASONS = {status.value: status.phrase for status in HTTPStatus}


# Every ServeKit that made a core, closed at exit (weakly held: an app that
# drops its ServeKit drops the core with it).
_instances: weakref.WeakSet[ServeKit] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for sk in list(_instances):
        sk.close()


def _forget_inherited_cores() -> None:
    for sk in list(_instances):
        if sk._pid != os.getpid():
            sk._forget_after_fork()


os.register_at_fork(after_in_child=_forget_inherited_cores)
