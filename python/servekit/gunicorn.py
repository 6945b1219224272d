"""servekit.gunicorn: a gunicorn worker that serves a servekit.flask app on
servekit's native HTTP server.

    gunicorn -w 2 -k servekit.gunicorn.Worker examples.flask_app:app

Each worker process listens on gunicorn's socket with the HTTP server that
servekit-server runs. TF Serving's REST routes that the app's ``ServeKit``
mounted (``/v1/models/...``, ``/v2/health/...``, under its ``url_prefix``) are
answered there natively: HTTP parsing, JSON, the model and the answer never
touch Python or the GIL. Every other request (the app's own Flask routes) is
passed to the app as a WSGI call, on the server thread that read it, so Flask
works as under any threaded worker.

Why: under gunicorn's own workers, HTTP parsing and the WSGI call in Python
cost several times what the model does, and cap a servekit.flask app far
below servekit-server (bench/flask_bench.py).

What carries over from gunicorn: the bound sockets (TCP only; a Unix socket
is refused at boot), ``workers``, ``threads`` (the HTTP server's threads per
worker, at least 1: the app's own requests run on them, so they are also how
many of those run at once, and a slow Flask route holds one), ``keepalive``
(idle connections close after it), ``worker_connections`` (open connections
per worker; at the cap the longest idle one is closed), ``graceful_timeout``
(SIGTERM drains: readiness answers 503, no new connections, requests in
flight get that long), ``timeout`` (the heartbeat), ``--preload``. Not
supported: ``max_requests`` (a warning says so), TLS (put a proxy in front).
Limits are the ServeKit's: a body over its ``max_request_bytes`` is answered
413 on every route. With ``ServeKit(flask_hooks=True)`` the routes go through
Flask like the others, so that the app's hooks see them.
"""

from __future__ import annotations

import io
import os
import select
import sys
from urllib.parse import unquote_to_bytes

from gunicorn.workers.base import Worker as _BaseWorker

from servekit import _core

__all__ = ["Worker"]


class Worker(_BaseWorker):
    """gunicorn's worker class for servekit.flask apps (``-k servekit.gunicorn.Worker``)."""

    def load_wsgi(self) -> None:
        """Loads the app, then starts serving it: done here rather than in run()
        so that an app without a ServeKit, or a socket that cannot be served,
        fails the worker's boot and stops gunicorn with the reason, instead of
        a worker that is restarted over and over."""
        super().load_wsgi()
        arguments = _servekit_of(self.wsgi)._frontend_arguments()
        if self.cfg.max_requests > 0:
            self.log.warning("servekit.gunicorn.Worker does not restart after max_requests; the setting is ignored")
        self._frontends = []
        try:
            for sock in self.sockets:
                address = sock.getsockname()
                host, port = address[:2] if isinstance(address, tuple) else (str(address), 0)
                bridge = _WsgiBridge(self.wsgi, self.log, host, port, multiprocess=self.cfg.workers > 1)
                self._frontends.append(
                    _core.HttpFrontend(
                        listen_fd=sock.fileno(),
                        fallback=bridge,
                        num_threads=max(1, self.cfg.threads),
                        idle_timeout=max(float(self.cfg.keepalive), 1.0),
                        max_connections=max(1, self.cfg.worker_connections),
                        **arguments,
                    )
                )
        except BaseException:
            self._stop(0.0)
            raise

    def run(self) -> None:
        try:
            self._serve_until_told()
        finally:
            self._stop(float(self.cfg.graceful_timeout))

    def _stop(self, drain_seconds: float) -> None:
        for frontend in self._frontends:
            if not frontend.stop(drain_seconds):
                self.log.warning("servekit: requests were still in flight after graceful_timeout")
        self._frontends = []

    def _serve_until_told(self) -> None:
        """The server's threads answer requests; this thread keeps the arbiter's
        heartbeat and waits for a signal (SIGTERM sets alive to False and writes
        to the wake-up pipe) or a new parent."""
        tick = max(min(self.timeout / 2.0, 1.0), 0.05) if self.timeout else 1.0
        while self.alive:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                return
            try:
                ready, _, _ = select.select([self.PIPE[0]], [], [], tick)
                if ready:
                    os.read(self.PIPE[0], 64)
            except InterruptedError:
                pass


def _servekit_of(app):
    """The servekit.flask.ServeKit mounted on `app` (a Flask app), or a clear error."""
    extensions = getattr(app, "extensions", None)
    found = extensions.get("servekit") if isinstance(extensions, dict) else None
    if found is None:
        raise RuntimeError(
            f"servekit.gunicorn.Worker serves Flask apps with servekit.flask.ServeKit mounted; {app!r} "
            "has no servekit.flask.ServeKit (use gunicorn's own workers for other apps)"
        )
    return found


class _WsgiBridge:
    """One request for the app, as HttpFrontend hands it over, through WSGI (PEP 3333)."""

    def __init__(self, app, log, host: str, port: int, *, multiprocess: bool):
        self._app = app
        self._log = log
        self._server = {"SERVER_NAME": str(host), "SERVER_PORT": str(port), "SERVER_PROTOCOL": "HTTP/1.1"}
        self._multiprocess = multiprocess

    def __call__(self, method: str, target: str, headers, body: bytes, remote_address: str):
        try:
            return self._call(method, target, headers, body, remote_address)
        except Exception:
            self._log.exception("Error handling request %s %s", method, target[:200])
            return 500, [("Content-Type", "text/plain")], b"Internal Server Error"

    def _call(self, method: str, target: str, headers, body: bytes, remote_address: str):
        path = target
        if "://" in path.split("?", 1)[0]:  # absolute form: http://host/path?query
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        path, _, query = path.partition("?")
        environ = {
            **self._server,
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": target,
            "REQUEST_URI": target,
            "REMOTE_ADDR": remote_address,
            "CONTENT_LENGTH": str(len(body)) if body else "",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": self._multiprocess,
            "wsgi.run_once": False,
        }
        for name, value in headers:
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key == "CONTENT_LENGTH" or "_" in name:
                # The body's length is what was read; a name with "_" could pose
                # as one with "-" (gunicorn drops them too).
                continue
            else:
                key = "HTTP_" + key
                environ[key] = f"{environ[key]},{value}" if key in environ else value

        started: list = []
        chunks: list[bytes] = []

        def start_response(status, response_headers, exc_info=None):
            if exc_info is not None and started:
                raise exc_info[1].with_traceback(exc_info[2])
            started[:] = [status, list(response_headers)]
            return chunks.append

        result = self._app(environ, start_response)
        try:
            for chunk in result:
                if chunk:
                    chunks.append(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            raise RuntimeError("the WSGI app returned without calling start_response")
        status, response_headers = started
        code = int(str(status).split(" ", 1)[0])
        if method == "HEAD" or code in (204, 304) or 100 <= code < 200:
            chunks = []
        return code, response_headers, b"".join(chunks)
