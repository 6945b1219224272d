"""TF Serving's gRPC API, proven with the official client: tensorflow-serving-api's
stubs (and TensorFlow's own tensor helpers) against servekit-server running as a
separate process."""

from __future__ import annotations

import math
import os
import time
import warnings

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import (
        classification_pb2,
        get_model_metadata_pb2,
        get_model_status_pb2,
        model_management_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
        regression_pb2,
    )

from server_process import ServerProcess

MAX_MESSAGE = 1 << 20


@pytest.fixture(scope="module")
def repo(tmp_path_factory, write_models):
    root = tmp_path_factory.mktemp("grpc_models")
    write_models(root, "half_plus_two:1:2", "half_plus_two:2:3", "multi", "classifier", "regressor")
    config = root / "models.config"
    config.write_text(f"""
    model_config_list {{
      config {{ name: "half_plus_two" base_path: "{root / "half_plus_two"}"
               model_version_policy {{ all {{}} }} version_labels {{ key: "stable" value: 1 }} }}
      config {{ name: "multi" base_path: "{root / "multi"}" }}
      config {{ name: "classifier" base_path: "{root / "classifier"}" }}
      config {{ name: "regressor" base_path: "{root / "regressor"}" }}
    }}""")
    return root


@pytest.fixture(scope="module")
def server(repo):
    process = ServerProcess(f"--model_config_file={repo / 'models.config'}", f"--grpc_max_message_bytes={MAX_MESSAGE}")
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def channel(server):
    with grpc.insecure_channel(server.grpc_target) as ch:
        grpc.channel_ready_future(ch).result(timeout=30)
        yield ch


@pytest.fixture(scope="module")
def predict_stub(channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(channel)


@pytest.fixture(scope="module")
def model_stub(channel):
    return model_service_pb2_grpc.ModelServiceStub(channel)


def predict_request(name: str, version: int | None = None, label: str | None = None, **inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if label is not None:
        request.model_spec.version_label = label
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(value)
    return request


def test_predict_with_tensorflows_helpers(predict_stub):
    request = predict_request("half_plus_two", version=1, x=tf.make_tensor_proto([1.0, 2.0, 5.0], dtype=tf.float32))
    request.model_spec.signature_name = "serving_default"
    response = predict_stub.Predict(request, timeout=10)
    assert tf.make_ndarray(response.outputs["y"]).tolist() == [2.5, 3.0, 4.5]
    assert response.model_spec.name == "half_plus_two"
    assert response.model_spec.version.value == 1
    assert response.outputs["y"].tensor_content  # answers always use tensor_content

    latest = predict_stub.Predict(predict_request("half_plus_two", x=tf.make_tensor_proto([1.0])), timeout=10)
    assert tf.make_ndarray(latest.outputs["y"]).tolist() == [3.5] and latest.model_spec.version.value == 2
    stable = predict_stub.Predict(
        predict_request("half_plus_two", label="stable", x=tf.make_tensor_proto([1.0])), timeout=10
    )
    assert tf.make_ndarray(stable.outputs["y"]).tolist() == [2.5]


def test_predict_with_typed_fields_built_by_hand(predict_stub):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "multi"
    a = request.inputs["a"]
    a.dtype = tf.float32.as_datatype_enum
    a.tensor_shape.dim.add(size=2)
    a.tensor_shape.dim.add(size=2)
    a.float_val.extend([1.0, 2.0, 3.0, 4.0])
    b = request.inputs["b"]
    b.dtype = tf.int64.as_datatype_enum
    b.tensor_shape.dim.add(size=2)
    b.tensor_shape.dim.add(size=1)
    b.int64_val.extend([10, 20])
    response = predict_stub.Predict(request, timeout=10)
    assert tf.make_ndarray(response.outputs["sum"]).tolist() == [[11.0, 12.0], [23.0, 24.0]]
    assert tf.make_ndarray(response.outputs["neg"]).tolist() == [[-1.0, -2.0], [-3.0, -4.0]]
    request.output_filter.append("neg")
    filtered = predict_stub.Predict(request, timeout=10)
    assert list(filtered.outputs) == ["neg"]


def test_get_model_metadata(predict_stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "multi"
    request.metadata_field.append("signature_def")
    response = predict_stub.GetModelMetadata(request, timeout=10)
    assert response.model_spec.name == "multi" and response.model_spec.version.value == 1
    any_message = response.metadata["signature_def"]
    assert any_message.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    signatures = get_model_metadata_pb2.SignatureDefMap()
    any_message.Unpack(signatures)
    signature = signatures.signature_def["serving_default"]
    assert signature.method_name == "tensorflow/serving/predict"
    assert signature.inputs["a"].dtype == tf.float32.as_datatype_enum
    assert [d.size for d in signature.inputs["a"].tensor_shape.dim] == [-1, 2]
    assert signature.inputs["b"].dtype == tf.int64.as_datatype_enum
    assert set(signature.outputs) == {"sum", "neg"}


def test_get_model_status(model_stub):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "half_plus_two"
    response = model_stub.GetModelStatus(request, timeout=10)
    assert [(s.version, s.state) for s in response.model_version_status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE),
        (2, get_model_status_pb2.ModelVersionStatus.AVAILABLE),
    ]
    assert all(s.status.error_code == 0 and s.status.error_message == "" for s in response.model_version_status)
    request.model_spec.version.value = 2
    assert [s.version for s in model_stub.GetModelStatus(request, timeout=10).model_version_status] == [2]
    request.model_spec.version.value = 7
    with pytest.raises(grpc.RpcError) as error:
        model_stub.GetModelStatus(request, timeout=10)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


def test_classify_and_regress(predict_stub):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "classifier"
    for values in ([0.0, 0.0, 0.0], [0.0, float(np.log(3.0)), 0.0]):
        request.input.example_list.examples.add().features.feature["x"].float_list.value.extend(values)
    result = predict_stub.Classify(request, timeout=10).result
    assert [[c.label for c in row.classes] for row in result.classifications] == [["0", "1", "2"]] * 2
    scores = [[c.score for c in row.classes] for row in result.classifications]
    assert np.allclose(scores, [[1 / 3] * 3, [0.2, 0.6, 0.2]], atol=1e-6)

    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name = "regressor"
    examples = regress.input.example_list_with_context
    examples.context.features.feature["x"].float_list.value.extend([9.0, 9.0])
    examples.examples.add().features.feature["x"].float_list.value.extend([1.0, 2.0])
    examples.examples.add()  # takes the context's x
    assert [r.value for r in predict_stub.Regress(regress, timeout=10).result.regressions] == [3.0, 18.0]
    with pytest.raises(grpc.RpcError) as error:
        request.model_spec.name = "regressor"
        predict_stub.Classify(request, timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


BAD_PREDICTS = {
    "wrong dtype": (
        lambda: predict_request("half_plus_two", x=tf.make_tensor_proto([1], dtype=tf.int32)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DT_INT32",
    ),
    "wrong shape": (
        lambda: predict_request("half_plus_two", x=tf.make_tensor_proto([[1.0, 2.0]])),
        grpc.StatusCode.INVALID_ARGUMENT,
        "shape",
    ),
    "unknown model": (
        lambda: predict_request("nope", x=tf.make_tensor_proto([1.0])),
        grpc.StatusCode.NOT_FOUND,
        "nope",
    ),
    "unknown version": (
        lambda: predict_request("half_plus_two", version=9, x=tf.make_tensor_proto([1.0])),
        grpc.StatusCode.NOT_FOUND,
        "",
    ),
    "unknown label": (
        lambda: predict_request("half_plus_two", label="beta", x=tf.make_tensor_proto([1.0])),
        grpc.StatusCode.NOT_FOUND,
        "beta",
    ),
    "missing input": (
        lambda: predict_request("multi", a=tf.make_tensor_proto([[1.0, 2.0]])),
        grpc.StatusCode.INVALID_ARGUMENT,
        "'b'",
    ),
    "unknown input": (
        lambda: predict_request("half_plus_two", x=tf.make_tensor_proto([1.0]), z=tf.make_tensor_proto([1.0])),
        grpc.StatusCode.INVALID_ARGUMENT,
        "z",
    ),
    "unknown signature": (
        lambda: _with_signature(predict_request("half_plus_two", x=tf.make_tensor_proto([1.0]))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "signature",
    ),
    "no model name": (lambda: predict_pb2.PredictRequest(), grpc.StatusCode.INVALID_ARGUMENT, "name"),
}


def _with_signature(request):
    request.model_spec.signature_name = "other"
    return request


def _short_content():
    request = predict_request("half_plus_two", x=tf.make_tensor_proto([1.0, 2.0]))
    request.inputs["x"].tensor_content = request.inputs["x"].tensor_content[:6]  # 6 bytes for [2] floats
    return request


BAD_PREDICTS["tensor_content shorter than its shape"] = (_short_content, grpc.StatusCode.INVALID_ARGUMENT, "bytes")


@pytest.mark.parametrize("case", list(BAD_PREDICTS))
def test_bad_requests_get_the_right_code_and_the_server_keeps_serving(predict_stub, case):
    make, code, fragment = BAD_PREDICTS[case]
    with pytest.raises(grpc.RpcError) as error:
        predict_stub.Predict(make(), timeout=10)
    assert error.value.code() == code, error.value.details()
    assert fragment in error.value.details()
    ok = predict_stub.Predict(predict_request("half_plus_two", version=1, x=tf.make_tensor_proto([2.0])), timeout=10)
    assert tf.make_ndarray(ok.outputs["y"]).tolist() == [3.0]


def test_an_oversized_message_is_resource_exhausted(predict_stub):
    big = predict_request("half_plus_two", x=tf.make_tensor_proto(np.zeros(MAX_MESSAGE // 4 + 100, np.float32)))
    with pytest.raises(grpc.RpcError) as error:
        predict_stub.Predict(big, timeout=10)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    ok = predict_stub.Predict(predict_request("half_plus_two", version=1, x=tf.make_tensor_proto([0.0])), timeout=10)
    assert tf.make_ndarray(ok.outputs["y"]).tolist() == [2.0]


def test_multi_inference_is_unimplemented(predict_stub):
    from tensorflow_serving.apis import inference_pb2

    with pytest.raises(grpc.RpcError) as error:
        predict_stub.MultiInference(inference_pb2.MultiInferenceRequest(), timeout=10)
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_health_and_reflection(channel):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    ask = reflection_pb2.ServerReflectionRequest(list_services="")
    (answer,) = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(iter([ask]), timeout=10)
    services = {s.name for s in answer.list_services_response.service}
    assert {
        "tensorflow.serving.PredictionService",
        "tensorflow.serving.ModelService",
        "grpc.health.v1.Health",
    } <= services


def test_reflection_describes_the_services(channel):
    from google.protobuf import descriptor_pool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    pool = descriptor_pool.DescriptorPool(ProtoReflectionDescriptorDatabase(channel))
    service = pool.FindServiceByName("tensorflow.serving.PredictionService")
    assert {m.name for m in service.methods} >= {"Predict", "GetModelMetadata", "Classify", "Regress"}
    predict = service.FindMethodByName("Predict")
    assert predict.input_type.full_name == "tensorflow.serving.PredictRequest"
    assert predict.input_type.fields_by_name["inputs"].number == 2
    assert pool.FindMessageTypeByName("tensorflow.TensorProto").fields_by_name["tensor_content"].number == 4
    with pytest.raises(KeyError):
        pool.FindServiceByName("no.such.Service")


def test_unknown_methods_are_unimplemented(channel, predict_stub):
    for path in ("/tensorflow.serving.PredictionService/Nope", "/no.such.Service/Predict"):
        with pytest.raises(grpc.RpcError) as error:
            channel.unary_unary(path)(b"", timeout=10)
        assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert path in error.value.details()
    # Bytes that are not a PredictRequest.
    with pytest.raises(grpc.RpcError) as error:
        channel.unary_unary("/tensorflow.serving.PredictionService/Predict")(b"\xff\xff\xff", timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    ok = predict_stub.Predict(predict_request("half_plus_two", version=1, x=tf.make_tensor_proto([4.0])), timeout=10)
    assert tf.make_ndarray(ok.outputs["y"]).tolist() == [4.0]


@pytest.mark.parametrize("compression", [grpc.Compression.Gzip, grpc.Compression.Deflate])
def test_compressed_requests_are_accepted(predict_stub, compression):
    values = np.linspace(-1, 1, 5000, dtype=np.float32)
    request = predict_request("half_plus_two", version=1, x=tf.make_tensor_proto(values))
    response = predict_stub.Predict(request, timeout=10, compression=compression)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), values / 2 + 2, rtol=1e-6)


def test_concurrent_calls_on_one_channel_each_get_their_own_answer(predict_stub):
    """Many calls multiplexed on one HTTP/2 connection, from 16 threads: every
    answer belongs to its own request."""
    from concurrent.futures import ThreadPoolExecutor

    def call(i: int) -> bool:
        x = np.full(3 + i % 5, float(i), np.float32)
        response = predict_stub.Predict(
            predict_request("half_plus_two", version=1, x=tf.make_tensor_proto(x)), timeout=30
        )
        return tf.make_ndarray(response.outputs["y"]).tolist() == (x / 2 + 2).tolist()

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(call, range(800)))
    futures = [
        predict_stub.Predict.future(predict_request("half_plus_two", version=1, x=tf.make_tensor_proto([float(i)])))
        for i in range(64)
    ]
    assert [tf.make_ndarray(f.result(timeout=30).outputs["y"]).tolist() for f in futures] == [
        [i / 2 + 2] for i in range(64)
    ]


def test_traffic_that_is_not_grpc_is_dropped_and_the_server_keeps_serving(server, predict_stub):
    import socket

    host, port = server.grpc_target.rsplit(":", 1)
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x00" * 100, preface + b"\xff" * 64, preface):
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(junk)
            if junk == preface:
                continue  # a client that sends the preface and leaves
            received = b""
            while chunk := sock.recv(4096):  # the server closes the connection
                received += chunk
    ok = predict_stub.Predict(predict_request("half_plus_two", version=1, x=tf.make_tensor_proto([6.0])), timeout=10)
    assert tf.make_ndarray(ok.outputs["y"]).tolist() == [5.0]


def reload_request(repo, **extra):
    """A ReloadConfigRequest for the module's models plus `extra` (name -> base path)."""
    request = model_management_pb2.ReloadConfigRequest()
    models = request.config.model_config_list.config
    for name in ("half_plus_two", "multi", "classifier", "regressor"):
        entry = models.add(name=name, base_path=str(repo / name), model_platform="onnx")
        if name == "half_plus_two":
            entry.model_version_policy.all.SetInParent()
            entry.version_labels["stable"] = 1
    for name, base_path in extra.items():
        models.add(name=name, base_path=str(base_path))
    return request


def test_handle_reload_config_request(repo, tmp_path, write_models):
    write_models(tmp_path, "added:1:100")
    server = ServerProcess(f"--model_config_file={repo / 'models.config'}", "--enable_model_management")
    try:
        with grpc.insecure_channel(server.grpc_target) as ch:
            model_stub = model_service_pb2_grpc.ModelServiceStub(ch)
            predict_stub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
            response = model_stub.HandleReloadConfigRequest(reload_request(repo, added=tmp_path / "added"), timeout=60)
            assert response.status.error_code == 0
            added = predict_stub.Predict(predict_request("added", x=tf.make_tensor_proto([0.0])), timeout=10)
            assert tf.make_ndarray(added.outputs["y"]).tolist() == [100.0]

            bad = model_management_pb2.ReloadConfigRequest()
            bad.config.model_config_list.config.add(name="x", base_path="/nowhere", model_platform="pytorch")
            with pytest.raises(grpc.RpcError) as error:
                model_stub.HandleReloadConfigRequest(bad, timeout=10)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            still = predict_stub.Predict(predict_request("added", x=tf.make_tensor_proto([0.0])), timeout=10)
            assert tf.make_ndarray(still.outputs["y"]).tolist() == [100.0]
    finally:
        assert server.stop() == 0


def test_reload_config_is_denied_without_model_management(model_stub, predict_stub, repo, tmp_path):
    """Like REST's management routes: without --enable_model_management an
    unauthenticated client can neither unload every model (an empty config)
    nor point a model at another directory."""
    for request in (model_management_pb2.ReloadConfigRequest(), reload_request(repo, etc=tmp_path)):
        request.config.model_config_list.SetInParent()
        with pytest.raises(grpc.RpcError) as error:
            model_stub.HandleReloadConfigRequest(request, timeout=10)
        assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "--enable_model_management" in error.value.details()
    ok = predict_stub.Predict(predict_request("half_plus_two", version=1, x=tf.make_tensor_proto([6.0])), timeout=10)
    assert tf.make_ndarray(ok.outputs["y"]).tolist() == [5.0]
    status = model_stub.GetModelStatus(
        get_model_status_pb2.GetModelStatusRequest(model_spec={"name": "multi"}), timeout=10
    )
    assert [v.state for v in status.model_version_status] == [get_model_status_pb2.ModelVersionStatus.AVAILABLE]


def test_calls_the_client_gave_up_on_are_not_run(tmp_path, write_models):
    """Calls multiplexed on one channel wait for a server thread; those whose
    deadline (grpc-timeout) has passed by then, or that the client has
    cancelled (grpcio cancels at its deadline), are dropped without running the
    model. Either mechanism alone passes this test; without both it fails. The
    server's metrics count the calls that ran."""
    import requests

    write_models(tmp_path, "slow")
    # One gRPC thread (TF Serving's flag): the strand and the queued calls share it.
    server = ServerProcess(f"--model_base_path={tmp_path / 'slow'}", "--model_name=slow", "--grpc_max_threads=1")
    try:
        with grpc.insecure_channel(server.grpc_target) as ch:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
            warm = predict_request("slow", x=tf.make_tensor_proto(np.ones((1, 1024), np.float32)))
            stub.Predict(warm, timeout=60)
            # 8 calls of ~6 GFLOP with a deadline well inside one call's time:
            # 30 ms, or a third of a call where one takes less than 90 ms (a
            # fast AVX-512 core does one in ~30 ms).
            big = predict_request("slow", x=tf.make_tensor_proto(np.ones((256, 1024), np.float32)))
            start = time.monotonic()
            stub.Predict(big, timeout=60)
            deadline = min(0.03, (time.monotonic() - start) / 3)
            calls = [stub.Predict.future(big, timeout=deadline) for _ in range(8)]
            codes = [call.exception().code() if call.exception() else grpc.StatusCode.OK for call in calls]
            assert codes == [grpc.StatusCode.DEADLINE_EXCEEDED] * 8
            time.sleep(1.0)  # the calls that did start have finished
            metrics = requests.get(f"{server.url}/monitoring/prometheus/metrics", timeout=10).text
            ran = sum(
                float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith("servekit_requests_total{") and 'api="grpc_predict"' in line
            )
            # Minus the warm-up and timing calls: the one thread starts at most a
            # few before their deadline (none at all if the host stalls).
            assert ran - 2 <= 4, metrics
            ok = stub.Predict(warm, timeout=60)
            assert ok.outputs["y"].tensor_shape.dim[0].size == 1
    finally:
        assert server.stop() == 0


def test_sigterm_answers_grpc_calls_in_flight(tmp_path, write_models):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    write_models(tmp_path, "slow")
    server = ServerProcess(f"--model_base_path={tmp_path / 'slow'}", "--model_name=slow")
    try:
        with grpc.insecure_channel(server.grpc_target) as ch:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(ch)
            request = predict_request("slow", x=tf.make_tensor_proto(np.ones((16, 1024), np.float32)))
            stub.Predict(request, timeout=60)  # warm
            # A client that gives up: its call is cancelled, the server goes on.
            # (256 rows: ~6 GFLOP, far longer than the 10 ms deadline.)
            big = predict_request("slow", x=tf.make_tensor_proto(np.ones((256, 1024), np.float32)))
            with pytest.raises(grpc.RpcError) as error:
                stub.Predict(big, timeout=0.01)
            assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            watch = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(), timeout=60)
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            # Enough calls of ~6 GFLOP each that, on 2 cores, they are still
            # running at SIGTERM 0.1 s from now: half a second of work at the
            # speed this machine just showed, and at least 6 (a fast AVX-512
            # core does one in ~30 ms: 6 were done before the signal).
            start = time.monotonic()
            stub.Predict(big, timeout=60)
            one_call = time.monotonic() - start
            count = min(200, max(6, math.ceil(2 * 0.5 / one_call)))
            calls = [stub.Predict.future(big, timeout=120) for _ in range(count)]
            time.sleep(0.1)
            server.terminate()
            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
            assert sum(not call.done() for call in calls) >= 2  # really in flight when the drain began
            results = [call.result().outputs["y"].tensor_shape.dim[0].size for call in calls]
    finally:
        code = server.stop()
    assert results == [256] * count
    assert code == 0
