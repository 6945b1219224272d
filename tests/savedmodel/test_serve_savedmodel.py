"""SavedModels served by servekit-server the way TF Serving's tutorials do it:
export with Keras, point the server at the base path, query with curl-style
REST and with the official gRPC client, export the next version and watch the
swap; signature_name over both transports; a version that fails to load says
why."""

from __future__ import annotations

import os
import shutil
import threading
import time

import numpy as np
import requests

import servekit
from server_process import ServerProcess

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import grpc  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import (  # noqa: E402
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)


def _train_cnn(seed: int):
    """A small Keras CNN trained for a few steps on random data."""
    import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    model = keras.Sequential(
        [
            # Named, so that every version's signature takes the same key.
            keras.Input((28, 28, 1), name="image"),
            layers.Conv2D(8, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.MaxPooling2D(),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model


def _export(model, base, version: int) -> None:
    """Exports into a staging directory, then renames it into place (what a
    careful pipeline does, so the server never sees a half-written version)."""
    staging = base / f"staging-{version}"
    model.export(str(staging), verbose=False)
    staging.rename(base / str(version))


def _grpc_predict(stub, name: str, inputs: dict, signature_name: str = ""):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if signature_name:
        request.model_spec.signature_name = signature_name
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    response = stub.Predict(request, timeout=30)
    return response, {key: tf.make_ndarray(value) for key, value in response.outputs.items()}


def _maps_of(process: ServerProcess) -> str:
    with open(f"/proc/{process.process.pid}/maps") as f:
        return f.read()


def test_keras_tutorial_end_to_end_with_a_hot_swap(tmp_path):
    base = tmp_path / "cnn"
    base.mkdir()
    first = _train_cnn(1)
    _export(first, base, 1)
    x = np.random.default_rng(7).random((3, 28, 28, 1), dtype=np.float32)
    want_v1 = first.predict(x, verbose=0)

    server = ServerProcess("--model_name=cnn", f"--model_base_path={base}", "--file_system_poll_wait_seconds=1")
    try:
        assert "tensorflow" not in _maps_of(server), "the server process mapped a TensorFlow library"
        # REST, as curl would send it.
        answer = requests.post(f"{server.url}/v1/models/cnn:predict", json={"instances": x.tolist()}, timeout=30)
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(np.array(answer.json()["predictions"]), want_v1, rtol=1e-5, atol=1e-6)
        metadata = requests.get(f"{server.url}/v1/models/cnn/metadata", timeout=30).json()
        signatures = metadata["metadata"]["signature_def"]["signature_def"]
        assert {"serving_default", "serve"} <= set(signatures)
        (input_info,) = signatures["serving_default"]["inputs"].values()
        assert input_info["dtype"] == "DT_FLOAT"

        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            (key,) = signatures["serving_default"]["inputs"]
            response, outputs = _grpc_predict(stub, "cnn", {key: x})
            assert response.model_spec.version.value == 1
            assert response.model_spec.signature_name == "serving_default"
            (output,) = outputs.values()
            np.testing.assert_allclose(output, want_v1, rtol=1e-5, atol=1e-6)
            meta_request = get_model_metadata_pb2.GetModelMetadataRequest()
            meta_request.model_spec.name = "cnn"
            meta_request.metadata_field.append("signature_def")
            assert stub.GetModelMetadata(meta_request, timeout=30).metadata["signature_def"].value

            # Version 2 arrives while requests flow: none may fail.
            failures, versions, stop = [], set(), threading.Event()

            def load():
                deadline = time.monotonic() + 120
                while not stop.is_set() and time.monotonic() < deadline:
                    try:
                        response, _ = _grpc_predict(stub, "cnn", {key: x})
                        versions.add(response.model_spec.version.value)
                    except grpc.RpcError as error:
                        failures.append(error)

            second = _train_cnn(2)  # before the client starts: only the export races it
            want_v2 = second.predict(x, verbose=0)
            client = threading.Thread(target=load)
            client.start()
            _export(second, base, 2)
            deadline = time.monotonic() + 60
            while 2 not in versions and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(0.5)
            stop.set()
            client.join()
            assert not failures, failures[:3]
            assert versions == {1, 2}
            response, outputs = _grpc_predict(stub, "cnn", {key: x})
            assert response.model_spec.version.value == 2
            np.testing.assert_allclose(next(iter(outputs.values())), want_v2, rtol=1e-5, atol=1e-6)
    finally:
        assert server.stop() == 0


def test_signature_name_over_rest_and_grpc(saved_model, tmp_path):
    path, expected = saved_model("tf_module")
    base = tmp_path / "module"
    shutil.copytree(path, base / "1")
    server = ServerProcess("--model_name=module", f"--model_base_path={base}")
    try:
        project_inputs, project_outputs = expected["project"]
        answer = requests.post(
            f"{server.url}/v1/models/module:predict",
            json={"signature_name": "project", "instances": project_inputs["features"].tolist()},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(answer.json()["predictions"], project_outputs["projection"], rtol=1e-5)

        default_inputs, default_outputs = expected["serving_default"]
        columnar = {key: value.tolist() for key, value in default_inputs.items()}
        answer = requests.post(f"{server.url}/v1/models/module:predict", json={"inputs": columnar}, timeout=30)
        assert answer.status_code == 200, answer.text
        got = answer.json()["outputs"]
        np.testing.assert_array_equal(got["label"], default_outputs["label"])
        np.testing.assert_allclose(got["probabilities"], default_outputs["probabilities"], rtol=1e-5)

        unknown = requests.post(
            f"{server.url}/v1/models/module:predict",
            json={"signature_name": "nope", "instances": project_inputs["features"].tolist()},
            timeout=30,
        )
        assert unknown.status_code == 400
        assert "nope" in unknown.json()["error"]

        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            response, outputs = _grpc_predict(stub, "module", project_inputs, signature_name="project")
            assert response.model_spec.signature_name == "project"
            np.testing.assert_allclose(outputs["projection"], project_outputs["projection"], rtol=1e-5)
            _, outputs = _grpc_predict(stub, "module", default_inputs)
            assert outputs["label"].dtype == np.int64
            np.testing.assert_array_equal(outputs["label"], default_outputs["label"])
    finally:
        assert server.stop() == 0


def test_a_version_that_cannot_load_says_why(tmp_path):
    base = tmp_path / "broken"
    (base / "1" / "variables").mkdir(parents=True)
    (base / "1" / "saved_model.pb").write_bytes(b"\x0a\x05garbage")
    # No retries: TF Serving's defaults (5 retries, 60 s apart) held this test for 5 minutes.
    server = ServerProcess("--model_name=broken", f"--model_base_path={base}", "--max_num_load_retries=0")
    try:
        status = requests.get(f"{server.url}/v1/models/broken", timeout=30).json()
        (version,) = status["model_version_status"]
        assert version["state"] == "END"
        assert "saved_model.pb" in version["status"]["error_message"]
    finally:
        assert server.stop() == 0
    log = "".join(server.log)
    assert "version 1 did not load" in log and "saved_model.pb" in log, log


class _HalfPlusTwo(tf.Module):
    """TF Serving's README example, y = 0.5 * x + 2, as a tf.Module."""

    def __init__(self):
        super().__init__()
        self.a = tf.Variable(0.5)
        self.b = tf.Variable(2.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def __call__(self, x):
        return {"y": self.a * x + self.b}


def test_half_plus_two_beside_an_onnx_model_in_one_config(tmp_path):
    module = _HalfPlusTwo()
    tf.saved_model.save(module, str(tmp_path / "half_plus_two" / "1"), signatures=module.__call__)
    onnx_model = servekit.Sequential([servekit.Input((3,), name="x"), servekit.layers.Dense(1, name="y")])
    onnx_model.set_weights([np.array([[1.0], [-2.0], [0.5]], np.float32), np.array([0.25], np.float32)])
    onnx_model.save(tmp_path / "dense" / "1")
    config = tmp_path / "models.config"
    config.write_text(f"""
    model_config_list {{
      config {{ name: "half_plus_two" base_path: "{tmp_path / "half_plus_two"}" model_platform: "tensorflow" }}
      config {{ name: "dense" base_path: "{tmp_path / "dense"}" model_platform: "onnx" }}
    }}""")
    server = ServerProcess(f"--model_config_file={config}")
    try:
        # TF Serving's README, word for word.
        answer = requests.post(
            f"{server.url}/v1/models/half_plus_two:predict", json={"instances": [1.0, 2.0, 5.0]}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": [2.5, 3.0, 4.5]}
        x = np.array([[1.0, 2.0, 3.0]], np.float32)
        answer = requests.post(f"{server.url}/v1/models/dense:predict", json={"instances": x.tolist()}, timeout=30)
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(answer.json()["predictions"], onnx_model.predict(x), rtol=1e-6)
    finally:
        assert server.stop() == 0
