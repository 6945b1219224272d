"""servekit.flask: TF Serving's REST API mounted on a real Flask app (werkzeug
in a thread, gunicorn in a subprocess), answering as servekit-server does,
and swapping versions under load with zero failed requests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import flask
import numpy as np
import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

import servekit
from servekit import layers
from servekit.flask import ServeKit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def versioned_model(version: int) -> servekit.Sequential:
    """y = version for any input x [N, 3]: answers tell which version served."""
    model = servekit.Sequential([servekit.Input((3,), name="x"), layers.Dense(1, name="y")])
    model.set_weights([np.zeros((3, 1), np.float32), np.full((1,), version, np.float32)])
    return model


FAST = {"file_system_poll_wait_seconds": 0.02, "load_retry_interval_micros": 10_000, "max_num_load_retries": 3}


class AppThread:
    """A Flask app served by werkzeug's threaded server on a free loopback port."""

    def __init__(self, app: Flask):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


@pytest.fixture
def base(tmp_path):
    versioned_model(1).save(tmp_path / "m" / "1")
    return tmp_path / "m"


@pytest.fixture(params=[False, True], ids=["wsgi-layer", "flask-views"])
def served(base, request):
    app = Flask("test")
    sk = ServeKit(app, model_name="m", model_base_path=base, flask_hooks=request.param, **FAST)
    sk.core.wait_until_available("m", 1)
    thread = AppThread(app)
    yield thread, sk
    thread.close()
    sk.close()


ONE_ROW = {"instances": [[1.0, 2.0, 3.0]]}


# Every kind of TF Serving route, good and bad requests.
REQUESTS_TO_COMPARE = [
    ("GET", "/v1/models/m", None),
    ("GET", "/v1/models/m/versions/1", None),
    ("GET", "/v1/models/m/metadata", None),
    ("GET", "/v1/models", None),
    ("POST", "/v1/models/m:predict", json.dumps(ONE_ROW)),
    ("POST", "/v1/models/m/versions/1:predict", json.dumps({"inputs": {"x": [[1, 2, 3], [4, 5, 6]]}})),
    ("POST", "/v1/models/m:predict", '{"instances": [[1, 2]]}'),  # wrong shape
    ("POST", "/v1/models/m:predict", '{"instances": [[1, 2, "3"]]}'),  # wrong dtype
    ("POST", "/v1/models/m:predict", '{"instances": [[1, 2, 3]'),  # malformed JSON
    ("POST", "/v1/models/m:predict", "[" * 100_000),  # deep nesting
    ("POST", "/v1/models/nope:predict", json.dumps(ONE_ROW)),  # unknown model
    ("POST", "/v1/models/m/versions/9:predict", json.dumps(ONE_ROW)),  # unknown version
    ("POST", "/v1/models/m:add", json.dumps({"base_path": "/models/m"})),  # management is off
    ("GET", "/v1/models/m:predict", None),  # wrong method
    ("GET", "/v2/health/ready", None),
    ("GET", "/v2/health/live", None),
    ("GET", "/v1/models/caf%C3%A9", None),  # percent-encoded, as sent
    ("POST", "/v1/models/m%3Apredict", json.dumps(ONE_ROW)),
    ("GET", "/v1/models/m?x=%2F", None),
]


def test_routes_answer_as_servekit_server_does(served, base):
    """Every kind of route, good and bad requests: the same status and body as the model server."""
    thread, _ = served
    assert_answers_as_servekit_server(thread.url, base)
    answer = requests.post(thread.url + "/v1/models/m:predict", json=ONE_ROW, timeout=30)
    assert answer.json() == {"predictions": [[1.0]]}
    error = requests.post(thread.url + "/v1/models/m:predict", data="{", timeout=30)
    assert error.status_code == 400 and "error" in error.json()
    # A chunked body (no Content-Length), and the query string passed on.
    chunked = requests.post(
        thread.url + "/v1/models/m:predict", data=iter([b'{"instances": ', b"[[1, 2, 3]]}"]), timeout=30
    )
    assert chunked.json() == {"predictions": [[1.0]]}
    assert requests.put(thread.url + "/v1/models/m:predict", data="{}", timeout=30).status_code == 405


def assert_answers_as_servekit_server(url: str, base: Path) -> None:
    with servekit.ModelServer(model_name="m", model_base_path=base, rest_api_port=0) as server:
        server.core.wait_until_available("m", 1)
        for method, path, body in REQUESTS_TO_COMPARE:
            ours = requests.request(method, url + path, data=body, timeout=30)
            theirs = requests.request(method, server.url + path, data=body, timeout=30)
            assert (ours.status_code, ours.text) == (theirs.status_code, theirs.text), (method, path)
            assert ours.headers["Content-Type"].startswith(theirs.headers["Content-Type"].split(";")[0])


def test_bodies_over_the_limit_are_refused_unread(base):
    for flask_hooks in (False, True):
        app = Flask("limited")
        sk = ServeKit(app, model_name="m", model_base_path=base, max_request_bytes=64, flask_hooks=flask_hooks)
        sk.core.wait_until_available("m", 1)
        thread = AppThread(app)
        try:
            big = json.dumps({"instances": [[1.0, 2.0, 3.0]] * 10})
            refused = requests.post(thread.url + "/v1/models/m:predict", data=big, timeout=30)
            assert refused.status_code == 413 and "64 bytes" in refused.json()["error"]
            chunked = requests.post(thread.url + "/v1/models/m:predict", data=iter([big.encode()]), timeout=30)
            assert chunked.status_code == 413
            small = requests.post(thread.url + "/v1/models/m:predict", json=ONE_ROW, timeout=30)
            assert small.json() == {"predictions": [[1.0]]}
        finally:
            thread.close()
            sk.close()
    with pytest.raises(ValueError, match="max_request_bytes"):
        ServeKit(max_request_bytes=0)


@pytest.mark.parametrize("flask_hooks", [False, True])
def test_flask_hooks_see_the_routes_only_when_asked(base, flask_hooks):
    app = Flask("hooked")
    seen = []

    @app.before_request
    def check_key():
        seen.append(flask.request.path)
        if flask.request.headers.get("X-Key") != "secret":
            return {"error": "no key"}, 401
        return None

    sk = ServeKit(app, model_name="m", model_base_path=base, flask_hooks=flask_hooks)
    sk.core.wait_until_available("m", 1)
    with app.test_client() as client:
        without_key = client.post("/v1/models/m:predict", json=ONE_ROW)
        with_key = client.post("/v1/models/m:predict", json=ONE_ROW, headers={"X-Key": "secret"})
    sk.close()
    assert with_key.status_code == 200 and with_key.get_json() == {"predictions": [[1.0]]}
    if flask_hooks:
        assert without_key.status_code == 401 and seen == ["/v1/models/m:predict"] * 2
    else:
        assert without_key.status_code == 200 and seen == []


def test_the_app_keeps_its_own_routes_and_a_url_prefix(base):
    app = Flask("prefixed")
    sk = ServeKit()

    @app.get("/hello")
    def hello():
        return {"answer": float(sk.core.predict("m", np.ones((1, 3), np.float32))[0, 0])}

    sk.init_app(app, url_prefix="/api", model_name="m", model_base_path=base, **FAST)
    sk.core.wait_until_available("m", 1)
    thread = AppThread(app)
    try:
        assert requests.get(thread.url + "/hello", timeout=30).json() == {"answer": 1.0}
        assert requests.post(thread.url + "/api/v1/models/m:predict", json=ONE_ROW, timeout=30).json() == {
            "predictions": [[1.0]]
        }
        assert requests.post(thread.url + "/v1/models/m:predict", json=ONE_ROW, timeout=30).status_code == 404
        assert app.extensions["servekit"] is sk
    finally:
        thread.close()
        sk.close()


def test_management_routes_when_enabled(tmp_path, base):
    versioned_model(7).save(tmp_path / "other" / "7")
    app = Flask("managed")
    with pytest.warns(UserWarning, match="before_request"):
        sk = ServeKit(app, enable_model_management=True, **FAST)
    thread = AppThread(app)
    try:
        added = requests.post(
            thread.url + "/v1/models/other:add", json={"base_path": str(tmp_path / "other")}, timeout=30
        )
        assert added.status_code == 200, added.text
        sk.core.wait_until_available("other", 7)
        assert requests.post(thread.url + "/v1/models/other:predict", json=ONE_ROW, timeout=30).json() == {
            "predictions": [[7.0]]
        }
        assert requests.post(thread.url + "/v1/models/other:remove", timeout=30).status_code == 200
    finally:
        thread.close()
        sk.close()


def test_a_model_server_config_serves_several_models(tmp_path, base):
    versioned_model(5).save(tmp_path / "other" / "5")
    config = f"""
    model_config_list {{
      config {{ name: "m" base_path: "{base}" }}
      config {{ name: "other" base_path: "{tmp_path / "other"}" version_labels {{ key: "stable" value: 5 }} }}
    }}"""
    app = Flask("configured")
    sk = ServeKit(app, config=config)
    sk.core.wait_until_available("other", 5)
    with app.test_client() as client:
        assert client.post("/v1/models/m:predict", json=ONE_ROW).get_json() == {"predictions": [[1.0]]}
        stable = client.post("/v1/models/other/labels/stable:predict", json=ONE_ROW)
        assert stable.get_json() == {"predictions": [[5.0]]}
        assert {m["name"] for m in client.get("/v1/models").get_json()["models"]} == {"m", "other"}
    sk.close()


def test_serving_an_existing_core_leaves_it_open(base):
    with servekit.ServingCore(model_name="m", model_base_path=base, **FAST) as core:
        core.wait_until_available("m", 1)
        app = Flask("given")
        sk = ServeKit(app, core=core, max_request_values=2)
        thread = AppThread(app)
        try:
            assert requests.post(thread.url + "/v1/models/m:predict", json=ONE_ROW, timeout=30).status_code == 429
            assert sk.core is core
        finally:
            thread.close()
            sk.close()
        assert float(core.predict("m", np.ones((1, 3), np.float32))[0, 0]) == 1.0  # still open
    with pytest.raises(TypeError, match="model_name"):
        ServeKit(Flask("both"), core=core, model_name="m")


def test_bad_rest_options_are_refused(base):
    with pytest.raises(ValueError, match="max_request_values"):
        ServeKit(Flask("bad"), model_name="m", model_base_path=base, max_request_values=0)
    with pytest.raises(ValueError, match="url_prefix"):
        ServeKit(Flask("bad"), url_prefix="api", model_name="m", model_base_path=base)
    with pytest.raises(ValueError, match="Flask variables"):
        ServeKit(Flask("bad"), url_prefix="/<tenant>", model_name="m", model_base_path=base)
    closed = servekit.ServingCore()
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        ServeKit(Flask("bad"), core=closed)
    with pytest.raises(TypeError):
        servekit._core.RestHandler(None)


def publish_and_retire(base: Path, versions: range, wait) -> None:
    """Publishes each version whole, waits for it, then deletes the one before it."""
    for version in versions:
        versioned_model(version).save(base / str(version))
        wait(version)
        shutil.rmtree(base / str(version - 1))


def hammer(url: str, stop: threading.Event, clients: int = 4):
    """Clients that predict without pause until `stop`: (failures, answers per client, join)."""
    failures, answers = [], []

    def client():
        seen = []
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    r = session.post(url + "/v1/models/m:predict", json=ONE_ROW, timeout=30)
                    if r.status_code != 200:
                        failures.append((r.status_code, r.text))
                    else:
                        seen.append(r.json()["predictions"][0][0])
                except Exception as error:  # noqa: BLE001 - any failure is the finding
                    failures.append(repr(error))
        answers.append(seen)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()

    def join():
        stop.set()
        for t in threads:
            t.join(timeout=60)

    return failures, answers, join


def test_versions_swap_under_load_with_zero_failures(served, base):
    thread, sk = served
    stop = threading.Event()
    failures, answers, join = hammer(thread.url, stop)
    try:
        time.sleep(0.2)
        publish_and_retire(base, range(2, 7), lambda v: sk.core.wait_until_available("m", v, timeout=20))
        time.sleep(0.2)
    finally:
        join()
    assert failures == []
    for seen in answers:
        assert seen, "a client made no request"
        assert seen == sorted(seen), "a client saw an older version after a newer one"
    assert answers[0][-1] == 6.0
    assert requests.post(thread.url + "/v1/models/m:predict", json=ONE_ROW, timeout=30).json() == {
        "predictions": [[6.0]]
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the app exited: {process.stderr.read()}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"no answer from {url} within {timeout} s")


WORKERS = {"sync": ["--threads", "4"], "servekit": ["-k", "servekit.gunicorn.Worker"]}


@pytest.mark.parametrize("worker", list(WORKERS), ids=["sync_worker", "native_worker"])
@pytest.mark.parametrize("preload", [False, True], ids=["workers-start-cores", "preload-then-fork"])
def test_example_app_under_gunicorn_swaps_versions_with_zero_failures(base, preload, worker):
    """gunicorn's threaded workers, and servekit's (native HTTP, the app's own routes through WSGI)."""
    pytest.importorskip("gunicorn")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, MODEL_BASE_PATH=str(base), MODEL_NAME="m", POLL_SECONDS="0.05")
    command = [sys.executable, "-m", "gunicorn", "-w", "2", *WORKERS[worker], "-b", f"127.0.0.1:{port}"]
    command += ["--preload"] if preload else []
    process = subprocess.Popen(
        [*command, "--chdir", str(EXAMPLES), "flask_app:app"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_http(url + "/v1/models/m", process)
        assert requests.post(url + "/predict", json={"x": [[1, 2, 3]]}, timeout=30).json() == {"predictions": [[1.0]]}
        stop = threading.Event()
        failures, answers, join = hammer(url, stop)

        def served_everywhere(version: int) -> None:
            # Two workers, each with its own core: wait until every answer is the new version.
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                answers = {
                    requests.post(url + "/predict", json={"x": [[1, 2, 3]]}, timeout=30).json()["predictions"][0][0]
                    for _ in range(8)
                }
                if answers == {float(version)}:
                    return
                time.sleep(0.02)
            raise AssertionError(f"version {version} is not served by every worker")

        try:
            publish_and_retire(base, range(2, 5), served_everywhere)
        finally:
            join()
        assert failures == []
        assert all(seen for seen in answers)
        label = requests.post(url + "/admin/labels/stable", json={"version": 4}, timeout=30)
        assert label.status_code == 200, label.text
        bad = requests.post(url + "/predict", json={"x": [[1, 2]]}, timeout=30)
        assert bad.status_code == 400 and "error" in bad.json()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr


def test_the_core_shuts_down_at_exit(base):
    """A script that builds the app, answers once and exits: no hang, exit code 0."""
    script = f"""
import numpy as np
from flask import Flask
from servekit.flask import ServeKit
app = Flask("exit")
sk = ServeKit(app, model_name="m", model_base_path={str(base)!r})
sk.core.wait_until_available("m", 1)
with app.test_client() as client:
    r = client.post("/v1/models/m:predict", json={{"instances": [[1, 2, 3]]}})
    assert r.status_code == 200 and r.get_json() == {{"predictions": [[1.0]]}}, r.data
print("served")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "served"


class CountingStream:
    """A request body of `size` bytes that counts what is read of it."""

    def __init__(self, size: int):
        self.left = size
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        self.read_bytes += n
        return b" " * n


def wsgi_call(app: Flask, path: str, stream, headers: dict) -> tuple[str, bytes]:
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path, method="POST").get_environ()
    environ["wsgi.input"] = stream
    environ.pop("CONTENT_LENGTH", None)
    for key, value in headers.items():  # as a server passes them, unchecked
        environ["CONTENT_LENGTH" if key == "Content-Length" else f"HTTP_{key.upper().replace('-', '_')}"] = value
    environ["wsgi.input_terminated"] = "Content-Length" not in headers
    status = []
    body = b"".join(app(environ, lambda s, h, *_: status.append(s)))
    return status[0], body


@pytest.mark.parametrize("flask_hooks", [False, True])
def test_a_chunked_body_over_the_limit_is_not_read_whole(base, flask_hooks):
    app = Flask("chunked")
    sk = ServeKit(app, model_name="m", model_base_path=base, max_request_bytes=1000, flask_hooks=flask_hooks)
    stream = CountingStream(50_000_000)
    status, body = wsgi_call(app, "/v1/models/m:predict", stream, {"Transfer-Encoding": "chunked"})
    sk.close()
    assert status.startswith("413") and b"1000 bytes" in body
    assert stream.read_bytes <= 1001


def test_a_bad_content_length_is_refused(base):
    app = Flask("lengths")
    sk = ServeKit(app, model_name="m", model_base_path=base)
    for length in ("\u00b2", "1" * 5000, "-1", "12abc"):
        status, body = wsgi_call(app, "/v1/models/m:predict", CountingStream(10), {"Content-Length": length})
        assert status.startswith("400") and b"Content-Length" in body, length
    sk.close()


def test_after_close_requests_get_503_with_the_reason(base):
    app = Flask("closed")
    sk = ServeKit(app, model_name="m", model_base_path=base)
    sk.close()
    with app.test_client() as client:
        answer = client.get("/v1/models/m")
    assert answer.status_code == 503 and "closed" in answer.get_json()["error"]


def test_a_forked_worker_that_never_served_exits_promptly(base):
    """The inherited core is set aside at fork, not at first use: a worker that
    exits without a request must not wait for the parent's threads."""
    script = f"""
import os, sys
from flask import Flask
from servekit.flask import ServeKit
sk = ServeKit(Flask("fork"), model_name="m", model_base_path={str(base)!r})
sk.core.wait_until_available("m", 1)
pid = os.fork()
if pid == 0:
    sys.exit(0)  # a worker that never served
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "child 0"


# --- servekit.gunicorn.Worker: native HTTP for the mounted routes, WSGI for the rest ---

WORKER_APP = """
import time
import flask
from servekit.flask import ServeKit

app = flask.Flask("worker_test")
sk = ServeKit(app, url_prefix="/api", model_name="m", model_base_path=BASE, max_request_bytes=200_000,
              file_system_poll_wait_seconds=0.05)

@app.route("/echo/<path:rest>", methods=["GET", "POST", "HEAD"])
def echo(rest):
    response = flask.jsonify(
        path=flask.request.path, args=flask.request.args.to_dict(), method=flask.request.method,
        header=flask.request.headers.get("X-Test"), content_type=flask.request.content_type,
        body=flask.request.get_data(as_text=True), remote=flask.request.remote_addr,
    )
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")
    response.headers["X-Answer"] = "yes"
    return response

@app.get("/page")
def page():
    return "the same page for GET and HEAD"

@app.get("/slow")
def slow():
    time.sleep(1.0)
    return {"slow": True}

@app.get("/boom")
def boom():
    raise RuntimeError("boom")

def raw_routes(wsgi_app):
    # Answers the bridge must survive, below Flask (which would catch them).
    def serve(environ, start_response):
        path = environ["PATH_INFO"]
        if path == "/raw/exit":
            raise SystemExit(3)
        if path == "/raw/no-start":
            return [b"never started"]
        if path == "/raw/status":
            start_response("1000 Nonsense", [])
            return [b""]
        if path == "/raw/split":
            start_response("200 OK", [("X-A", "1\\r\\nSet-Cookie: evil=1")])
            return [b"x"]
        return wsgi_app(environ, start_response)
    return serve

app.wsgi_app = raw_routes(app.wsgi_app)
"""


def start_gunicorn(tmp_path: Path, source: str, bind: str, *extra: str) -> subprocess.Popen:
    (tmp_path / "worker_app.py").write_text(source)
    command = [sys.executable, "-m", "gunicorn", "-k", "servekit.gunicorn.Worker", "-b", bind, *extra]
    return subprocess.Popen(
        [*command, "--chdir", str(tmp_path), "worker_app:app"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_servekit_worker_answers_routes_natively_and_the_rest_through_the_app(tmp_path, base):
    pytest.importorskip("gunicorn")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    source = WORKER_APP.replace("BASE", repr(str(base)))
    process = start_gunicorn(tmp_path, source, f"127.0.0.1:{port}", "-w", "2", "--graceful-timeout", "20")
    try:
        wait_for_http(url + "/api/v1/models/m", process)
        # The mounted routes: byte for byte what servekit-server answers.
        assert_answers_as_servekit_server(url + "/api", base)
        big = json.dumps({"instances": [[1.0, 2.0, 3.0]] * 20_000})
        refused = requests.post(url + "/api/v1/models/m:predict", data=big, timeout=30)
        assert refused.status_code == 413 and "200000 bytes" in refused.json()["error"]
        assert requests.post(url + "/v1/models/m:predict", json=ONE_ROW, timeout=30).status_code == 404  # no prefix
        assert requests.put(url + "/api/v1/models/m:predict", data="{}", timeout=30).status_code == 405  # Flask's
        # The app's own routes, through WSGI: path, query, headers, body and the answer's headers.
        echo = requests.post(
            url + "/echo/caf%C3%A9?q=1&r=%2F",
            data=b'{"k": 2}',
            headers={"X-Test": "hello", "Content-Type": "application/json"},
            timeout=30,
        )
        assert echo.status_code == 200, echo.text
        assert echo.json() == {
            "path": "/echo/café",
            "args": {"q": "1", "r": "/"},
            "method": "POST",
            "header": "hello",
            "content_type": "application/json",
            "body": '{"k": 2}',
            "remote": "127.0.0.1",
        }
        assert echo.headers["X-Answer"] == "yes"
        assert echo.cookies.get("a") == "1" and echo.cookies.get("b") == "2"
        with requests.Session() as session:  # one kept-alive connection: HEAD sent no stray body
            get = session.get(url + "/page", timeout=30)
            head = session.head(url + "/page", timeout=30)
            assert head.status_code == 200 and head.headers["Content-Length"] == str(len(get.content)) != "0"
            assert session.get(url + "/page", timeout=30).text == get.text == "the same page for GET and HEAD"
        # Answers the bridge or the server refuse: a 500, and serving goes on.
        for path, why in [
            ("/raw/exit", "Python app raised"),
            ("/raw/no-start", "Python app raised"),
            ("/raw/status", "not valid HTTP"),
            ("/raw/split", "not valid HTTP"),
        ]:
            refused = requests.get(url + path, timeout=30)
            assert refused.status_code == 500, path
            assert "evil" not in refused.headers.get("Set-Cookie", "")
            if why != "Python app raised":
                assert why in refused.json()["error"], (path, refused.text)
        assert requests.get(url + "/nowhere", timeout=30).status_code == 404
        assert requests.get(url + "/boom", timeout=30).status_code == 500
        assert requests.get(url + "/api/v2/health/ready", timeout=30).status_code == 200
        # SIGTERM drains: a request in flight finishes, then the workers exit cleanly.
        slow: dict = {}
        thread = threading.Thread(target=lambda: slow.update(r=requests.get(url + "/slow", timeout=30)))
        thread.start()
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        thread.join(timeout=30)
        assert slow["r"].status_code == 200 and slow["r"].json() == {"slow": True}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "RuntimeError: boom" in stderr  # the app's exceptions, logged
    assert "SystemExit: 3" in stderr and "never called start_response" in stderr, stderr


@pytest.mark.parametrize(
    ("source", "bind", "message"),
    [
        ("import flask\napp = flask.Flask('plain')\n", "127.0.0.1:{port}", "has no servekit.flask.ServeKit"),
        (WORKER_APP, "unix:{tmp}/gunicorn.sock", "serves TCP sockets only"),
    ],
    ids=["no-servekit", "unix-socket"],
)
def test_servekit_worker_refuses_what_it_cannot_serve(tmp_path, base, source, bind, message):
    pytest.importorskip("gunicorn")
    bind = bind.format(port=free_port(), tmp=tmp_path)
    process = start_gunicorn(tmp_path, source.replace("BASE", repr(str(base))), bind, "-w", "1")
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:  # a worker that failed after booting is restarted, forever
            process.kill()
            process.communicate()
    assert process.returncode != 0
    assert message in stderr, stderr
