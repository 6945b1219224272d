"""Flask benchmark (issue 13): the same model behind the Flask apps people write
and behind servekit.flask, with wrk as the load generator on the same machine.

Every row answers the same POST /v1/models/mlp:predict with the same JSON body
(one MNIST instance, 784 values with 4 decimals, TF Serving's "instances"
format) and the same model (MNIST MLP 784-128-10, batch 1, one set of weights):

  (a) Flask dev server (threaded) + Keras model.predict    the seed tutorials' app
  (b) Flask dev server (threaded) + onnxruntime             the app with a faster runtime
  (b') gunicorn (2 sync workers) + Flask + onnxruntime
  (c) Flask dev server (threaded) + servekit.flask          TF Serving's routes mounted on the app
  (d) gunicorn (2 sync workers) + servekit.flask
  (d') gunicorn (2 workers of servekit.gunicorn.Worker)     the same app; each worker serves the mounted
       + servekit.flask                                     routes on servekit's native HTTP server
  (e) servekit-server                                       the native server
  gunicorn floor                                            2 sync workers, a WSGI app that reads the
                                                            body and answers a constant: no app can
                                                            beat it under this gunicorn

Apps (a) and (b) parse JSON with Flask's request.get_json() and answer with
jsonify, as the tutorials do; (c) and (d) hand the raw body to servekit's
native REST handler. onnxruntime runs with one intra-op and one inter-op
thread; Keras with TensorFlow's defaults. Each stack's answer is checked
against servekit's before it is timed. Every server binds 127.0.0.1, every run
stops after --seconds and every server started is stopped.

At the end, issue 13's targets in this run: (c) >= 5x (a), and (d) >= 3x (b')
(with gunicorn's sync worker, and (d') with servekit's);
and the floor over (b'), the most any app could reach under that gunicorn.

    python bench/flask_bench.py [--seconds 10] [--connections 1,16] [--only a,b,b-gunicorn,c,d,d-worker,e,floor]

Needs flask and gunicorn (scripts/setup.sh --dev); (a) needs tensorflow.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import textwrap
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_harness import (  # noqa: E402
    free_port,
    measured,
    print_header,
    print_wrk_table,
    servekit_command,
    server_process,
    wait_until_up,
    wrk,
)
from bench_models import mnist_mlp  # noqa: E402
from rest_bench import FLASK_APP, ORT_RUNNER, PREDICT_PATH, first_answer, ratio_line, write_app  # noqa: E402

MODEL = "mlp"

KERAS_RUNNER = """
import numpy as np
import keras

_weights = np.load(WEIGHTS_FILE)
_model = keras.Sequential(
    [keras.Input((784,)), keras.layers.Dense(128, activation="relu"), keras.layers.Dense(10, activation="softmax")]
)
_model.set_weights([_weights[f"w{i}"] for i in range(4)])


def run(x):
    return _model.predict(x, verbose=0)
"""

SERVEKIT_FLASK_APP = """
from flask import Flask

from servekit.flask import ServeKit

app = Flask(__name__)
sk = ServeKit(app, model_name=MODEL_NAME, model_base_path=MODEL_BASE_PATH)


if __name__ == "__main__":
    import sys

    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
"""

FLOOR_APP = """
ANSWER = b'{"predictions": [[0.0]]}'


def app(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(ANSWER)))])
    return [ANSWER]
"""

LABELS = {
    "a": "(a) Flask dev server (threaded) + Keras model.predict",
    "b": "(b) Flask dev server (threaded) + onnxruntime",
    "b-gunicorn": "(b') gunicorn (2 sync workers) + Flask + onnxruntime",
    "c": "(c) Flask dev server (threaded) + servekit.flask",
    "d": "(d) gunicorn (2 sync workers) + servekit.flask",
    "d-worker": "(d') gunicorn (2 servekit.gunicorn workers) + servekit.flask",
    "e": "(e) servekit-server",
    "floor": "gunicorn floor (2 sync workers, a constant answer)",
}


def write_apps(work: Path, model_dir: Path, weights: list[np.ndarray]) -> None:
    np.savez(work / "weights.npz", **{f"w{i}": w for i, w in enumerate(weights)})
    write_app(work / "flask_ort.py", FLASK_APP, ORT_RUNNER, model_dir)
    keras_runner = KERAS_RUNNER.replace("WEIGHTS_FILE", repr(str(work / "weights.npz")))
    write_app(work / "flask_keras.py", FLASK_APP, keras_runner, model_dir)
    app = SERVEKIT_FLASK_APP.replace("MODEL_NAME", repr(MODEL)).replace("MODEL_BASE_PATH", repr(str(model_dir.parent)))
    (work / "flask_servekit.py").write_text(textwrap.dedent(app))
    (work / "gunicorn_floor.py").write_text(textwrap.dedent(FLOOR_APP))


def commands(work: Path, model_base: Path) -> dict[str, list[str]]:
    """key -> command taking the port as {port}."""
    py = sys.executable
    gunicorn = [py, "-m", "gunicorn", "-w", "2", "-k", "sync", "-b", "127.0.0.1:{port}", "--chdir", str(work)]
    flags = [f"--model_name={MODEL}", f"--model_base_path={model_base}", "--rest_api_port={port}", "--port=0"]
    return {
        "a": [py, str(work / "flask_keras.py"), "{port}"],
        "b": [py, str(work / "flask_ort.py"), "{port}"],
        "b-gunicorn": [*gunicorn, "flask_ort:app"],
        "c": [py, str(work / "flask_servekit.py"), "{port}"],
        "d": [*gunicorn, "flask_servekit:app"],
        "d-worker": [*gunicorn[:6], "servekit.gunicorn.Worker", *gunicorn[7:], "flask_servekit:app"],
        "e": servekit_command(flags),
        "floor": [*gunicorn, "gunicorn_floor:app"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="wrk duration per row")
    parser.add_argument("--connections", default="1,16", help="connection counts (comma-separated)")
    parser.add_argument("--only", default=",".join(LABELS), help="which rows to run (comma-separated keys)")
    args = parser.parse_args()
    connection_counts = [int(c) for c in args.connections.split(",")]
    only = args.only.split(",")
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (scripts/setup.sh --dev installs it)")

    print_header("Flask: the tutorials' app, Flask + onnxruntime and servekit.flask, beside servekit-server")
    print(
        f"MNIST MLP 784-128-10, batch 1; wrk -t1 --latency, {args.seconds:g} s per row, "
        f"connections {connection_counts}\n"
    )

    pixels = np.random.default_rng(0).random(784).astype(np.float32)
    body = json.dumps({"instances": [[round(float(v), 4) for v in pixels]]})
    rows = []  # (key, connections, result)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = work / MODEL / "1"
        model = mnist_mlp()
        model.save(model_dir)
        reference = model.predict(np.asarray(json.loads(body)["instances"], dtype=np.float32))
        write_apps(work, model_dir, model.get_weights())
        for key, command in commands(work, model_dir.parent).items():
            if key not in only:
                continue
            port = free_port()
            with server_process([part.replace("{port}", str(port)) for part in command], cwd=work) as process:
                url = f"http://127.0.0.1:{port}{PREDICT_PATH}"
                if key == "e":
                    wait_until_up(f"http://127.0.0.1:{port}/v2/health/ready")
                answer = first_answer(url, body)
                if key != "floor" and not np.allclose(answer, reference, atol=1e-5):
                    sys.exit(f"{LABELS[key]} answered {answer.tolist()}, servekit {np.asarray(reference).tolist()}")
                for connections in connection_counts:
                    result = measured(
                        process.pid, partial(wrk, url, connections, args.seconds, body, work), args.seconds
                    )
                    rows.append((key, connections, result))
                    print(f"  done: {LABELS[key]} @ {connections}: {result['rps']:,.0f} req/s", flush=True)

    print_wrk_table([(LABELS[key], connections, r) for key, connections, r in rows])

    def rps(key: str, connections: int) -> float | None:
        return next((r["rps"] for k, c, r in rows if k == key and c == connections), None)

    print("\nIssue 13's targets, this run:")
    for connections in connection_counts:
        print(f" at {connections} connection(s):")
        print(
            ratio_line("(c) servekit.flask / (a) Flask + Keras", rps("c", connections), rps("a", connections), 5, "x")
        )
        print(
            ratio_line(
                "(d) gunicorn + servekit.flask / (b') gunicorn + Flask + onnxruntime",
                rps("d", connections),
                rps("b-gunicorn", connections),
                3,
                "x",
            )
        )
        print(
            ratio_line(
                "(d') gunicorn with servekit's worker + servekit.flask / (b')",
                rps("d-worker", connections),
                rps("b-gunicorn", connections),
                3,
                "x",
            )
        )
        print(ratio_line("gunicorn floor / (b')", rps("floor", connections), rps("b-gunicorn", connections), 3, "x"))


if __name__ == "__main__":
    main()
