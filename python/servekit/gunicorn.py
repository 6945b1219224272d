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
flight get that long; SIGQUIT and SIGINT stop at once), ``timeout`` (the
heartbeat; it comes from the worker's main thread, so a request stuck in a
Flask route does not get the worker killed), ``--preload``. Not supported:
``max_requests`` (a warning says so), the access log, TLS (put a proxy in
front).
Limits are the ServeKit's: a body over its ``max_request_bytes`` is answered
413 on every route. With ``ServeKit(flask_hooks=True)`` the routes go through
Flask like the others, so that the app's hooks see them.
"""

from __future__ import annotations

import io
import os
import select
import socket
import sys
import threading
from urllib.parse import unquote_to_bytes

from gunicorn.workers.base import Worker as _BaseWorker

from servekit import _core

__all__ = ["Worker"]


class Worker(_BaseWorker):
    """gunicorn's worker class for servekit.flask apps (``-k servekit.gunicorn.Worker``)."""

    def load_wsgi(self) -> None:
        """Loads the app and checks that this worker can serve it: done here, in
        the boot, so that an app without a ServeKit or a socket that cannot be
        served stops gunicorn with the reason, instead of a worker that is
        restarted over and over. Serving starts in run()."""
        super().load_wsgi()
        self._arguments = _servekit_of(self.wsgi)._frontend_arguments()
        for sock in self.sockets:
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                raise RuntimeError(
                    f"servekit.gunicorn.Worker serves TCP sockets only; cannot serve {sock} (bind a host:port)"
                )
        if self.cfg.max_requests > 0:
            self.log.warning("servekit.gunicorn.Worker does not restart after max_requests; the setting is ignored")
        self._frontends = []
        self._quick_exit = False

    def run(self) -> None:
        try:
            for sock in self.sockets:
                host, port = sock.getsockname()[:2]
                bridge = _WsgiBridge(self.wsgi, self.log, host, port, multiprocess=self.cfg.workers > 1)
                self._frontends.append(
                    _core.HttpFrontend(
                        listen_fd=sock.fileno(),
                        fallback=bridge,
                        num_threads=max(1, self.cfg.threads),
                        idle_timeout=max(float(self.cfg.keepalive), 1.0),
                        max_connections=max(1, self.cfg.worker_connections),
                        **self._arguments,
                    )
                )
            self._serve_until_told()
        finally:
            self._stop(0.0 if self._quick_exit else float(self.cfg.graceful_timeout))

    def handle_quit(self, sig, frame) -> None:
        """SIGQUIT and SIGINT: stop at once, without the graceful drain."""
        self._quick_exit = True
        super().handle_quit(sig, frame)

    def _stop(self, drain_seconds: float) -> None:
        """Stops every socket's server at once, so that all of them stop
        accepting together and the drain takes drain_seconds, not that per socket."""
        results: list[bool] = []
        threads = [
            threading.Thread(target=lambda f=frontend: results.append(f.stop(drain_seconds)))
            for frontend in self._frontends
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if not all(results):
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
        except BaseException:  # SystemExit too: this is a server thread, not the app's process
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
            # Nothing is sent before the app returns, so a second call (an
            # error page, with exc_info) replaces the first (PEP 3333).
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
            raise RuntimeError("the WSGI app never called start_response")
        status, response_headers = started
        # HttpFrontend sends no body for HEAD, 1xx, 204 and 304, whatever the app gave.
        return int(str(status).split(" ", 1)[0]), response_headers, b"".join(chunks)
