"""The Flask app the Keras tutorials end with, on servekit.

The tutorials' app loads a model and answers POST /predict with
``model.predict`` in Python. Here the model is served by servekit's native
core: new version directories under MODEL_BASE_PATH are picked up while the
app runs, and TF Serving's REST API comes with it (/v1/models/...).

    MODEL_BASE_PATH=models/mnist flask --app examples/flask_app.py run
    MODEL_BASE_PATH=models/mnist gunicorn -w 2 -b 127.0.0.1:8000 --chdir examples flask_app:app
    # TF Serving's routes on servekit's native HTTP server, /predict through Flask:
    MODEL_BASE_PATH=models/mnist gunicorn -w 2 -k servekit.gunicorn.Worker --chdir examples flask_app:app

    curl -X POST localhost:5000/predict -H 'Content-Type: application/json' -d '{"x": [[0.1, ...]]}'
    curl -X POST localhost:5000/v1/models/mnist:predict -d '{"instances": [[0.1, ...]]}'
    curl -X POST localhost:5000/admin/labels/stable -d '{"version": 2}'

Environment: MODEL_BASE_PATH (required), MODEL_NAME (default "model"),
POLL_SECONDS (how often new versions are looked for; default 1).
"""

from __future__ import annotations

import os

import numpy as np
from flask import Flask, jsonify, request

import servekit
from servekit.flask import ServeKit

MODEL_NAME = os.environ.get("MODEL_NAME", "model")

app = Flask(__name__)
sk = ServeKit(
    app,
    model_name=MODEL_NAME,
    model_base_path=os.environ["MODEL_BASE_PATH"],
    file_system_poll_wait_seconds=float(os.environ.get("POLL_SECONDS", "1")),
)


@app.post("/predict")
def predict():
    """The tutorials' route: {"x": rows} in, {"predictions": rows, "version": v} out;
    {"version": v} or {"label": "stable"} in the body picks a version."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or "x" not in body:
        return jsonify(error='expected a JSON object with "x": a list of rows'), 400
    selector = {key: body[key] for key in ("version", "label") if key in body}
    try:
        y = sk.core.predict(MODEL_NAME, np.asarray(body["x"], np.float32), **selector)
    except (servekit.InvalidArgumentError, ValueError) as error:
        return jsonify(error=str(error)), 400
    except (servekit.NotFoundError, servekit.UnavailableError) as error:
        return jsonify(error=str(error)), 503
    return jsonify(predictions=np.asarray(y).tolist())


@app.post("/admin/labels/<label>")
def assign_label(label: str):
    """Points a label (e.g. "stable", "canary") at an available version: {"version": v}."""
    body = request.get_json(silent=True) or {}
    try:
        sk.core.set_label(MODEL_NAME, label, int(body["version"]))
    except (KeyError, TypeError, ValueError):
        return jsonify(error='expected {"version": <integer>}'), 400
    except servekit.Error as error:
        return jsonify(error=str(error)), 400
    return jsonify(label=label, version=int(body["version"]))


@app.get("/admin/versions")
def versions():
    """Every version of the model with its state."""
    return jsonify([{"version": s.version, "state": s.state} for s in sk.core.status(MODEL_NAME)])
