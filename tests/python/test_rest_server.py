"""The REST server against TF Serving's REST API, with `requests` against a live
servekit.ModelServer (native threads, loopback): every route, both request
formats, the documentation's examples, and a corpus of bad requests each
answered with the right 4xx while the server keeps serving."""

from __future__ import annotations

import base64
import json
import math
import re
import time

import numpy as np
import pytest
import requests

import servekit
from rest_testing import (
    classifier,
    half_plus,
    image_mean,
    raw_http,
    regressor,
    save,
    status_line,
    two_in_two_out,
)

TIMEOUT_MS = 1500  # the server's read timeout: stalled clients get 408 within it


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    save(half_plus(2.0), root / "half_plus_two", 1)
    save(half_plus(3.0), root / "half_plus_two", 2)
    save(two_in_two_out(), root / "multi", 1)
    save(image_mean(), root / "image", 1)
    save(classifier(), root / "classifier", 1)
    save(regressor(), root / "regressor", 1)
    return root


@pytest.fixture(scope="module")
def server(repo):
    config = f"""
    model_config_list {{
      config {{
        name: "half_plus_two" base_path: "{repo / "half_plus_two"}" model_platform: "onnx"
        model_version_policy {{ all {{}} }}
        version_labels {{ key: "stable" value: 1 }}
        version_labels {{ key: "canary" value: 2 }}
      }}
      config {{ name: "multi" base_path: "{repo / "multi"}" }}
      config {{ name: "image" base_path: "{repo / "image"}" }}
      config {{ name: "classifier" base_path: "{repo / "classifier"}" }}
      config {{ name: "regressor" base_path: "{repo / "regressor"}" }}
    }}"""
    with servekit.ModelServer(
        config=config,
        rest_api_port=0,
        rest_api_timeout_in_ms=TIMEOUT_MS,
        max_request_bytes=1 << 20,
        file_system_poll_wait_seconds=0.05,
        enable_model_management=True,
    ) as s:
        yield s


@pytest.fixture(scope="module")
def http(server):
    with requests.Session() as session:
        session.base = server.url
        yield session


def post(http, path: str, body) -> requests.Response:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return http.post(http.base + path, data=data, timeout=10)


def get(http, path: str) -> requests.Response:
    return http.get(http.base + path, timeout=10)


def ok_json(response: requests.Response):
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    return response.json()


def error_of(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


# --- status and metadata ------------------------------------------------------------------


def test_model_status_in_tf_servings_shape(http):
    body = ok_json(get(http, "/v1/models/half_plus_two"))
    ok = {"error_code": "OK", "error_message": ""}
    assert body == {
        "model_version_status": [
            {"version": "1", "state": "AVAILABLE", "status": ok},
            {"version": "2", "state": "AVAILABLE", "status": ok},
        ]
    }
    assert ok_json(get(http, "/v1/models/half_plus_two/versions/1"))["model_version_status"][0]["version"] == "1"
    assert ok_json(get(http, "/v1/models/half_plus_two/labels/canary"))["model_version_status"][0]["version"] == "2"
    assert "Could not find version 7" in error_of(get(http, "/v1/models/half_plus_two/versions/7"), 404)
    assert "Could not find any versions of model nope" in error_of(get(http, "/v1/models/nope"), 404)
    assert "Unrecognized servable version label: beta" in error_of(
        get(http, "/v1/models/half_plus_two/labels/beta"), 404
    )


def test_metadata_in_tf_servings_shape(http):
    body = ok_json(get(http, "/v1/models/multi/metadata"))
    assert body["model_spec"] == {"name": "multi", "signature_name": "", "version": "1"}
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert signature["inputs"]["a"] == {
        "dtype": "DT_FLOAT",
        "tensor_shape": {"dim": [{"size": "-1", "name": ""}, {"size": "2", "name": ""}], "unknown_rank": False},
        "name": "a",
    }
    assert signature["inputs"]["b"]["dtype"] == "DT_INT64"
    assert set(signature["outputs"]) == {"sum", "neg"}
    assert ok_json(get(http, "/v1/models/half_plus_two/versions/1/metadata"))["model_spec"]["version"] == "1"
    assert ok_json(get(http, "/v1/models/half_plus_two/labels/canary/metadata"))["model_spec"]["version"] == "2"
    assert (
        ok_json(get(http, "/v1/models/image/metadata"))["metadata"]["signature_def"]["signature_def"][
            "serving_default"
        ]["inputs"]["pixels"]["dtype"]
        == "DT_UINT8"
    )


def test_list_models_health_and_metrics(http):
    listed = {m["name"]: m for m in ok_json(get(http, "/v1/models"))["models"]}
    assert {"half_plus_two", "multi", "image", "classifier", "regressor"} <= set(listed)
    assert [v["version"] for v in listed["half_plus_two"]["model_version_status"]] == ["1", "2"]
    assert get(http, "/v2/health/live").status_code == 200
    assert get(http, "/v2/health/ready").status_code == 200

    ok_json(post(http, "/v1/models/half_plus_two/versions/1:predict", {"instances": [1.0]}))
    post(http, "/v1/models/half_plus_two:predict", {"instances": "oops"})
    metrics = get(http, "/monitoring/prometheus/metrics")
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    text = metrics.text
    assert re.search(
        r'servekit_requests_total\{api="predict",model="half_plus_two",status="OK",version="1"\} [1-9]', text
    )
    assert re.search(r'servekit_requests_total\{api="predict",model="half_plus_two",status="INVALID_ARGUMENT",', text)
    assert (
        'servekit_request_latency_seconds_bucket{api="predict",model="half_plus_two",status="OK",version="1",le="+Inf"}'
        in text
    )
    assert re.search(r'servekit_model_loads_total\{model="multi",version="1"\} 1', text)
    assert "# TYPE servekit_model_load_seconds histogram" in text
    assert re.search(r"servekit_requests_in_flight [0-9]+", text)


# --- predict ---------------------------------------------------------------------------------------


def test_the_documentations_row_and_columnar_examples(http):
    # TF Serving's REST API guide: half_plus_two answers 0.5 * x + 2.
    assert ok_json(post(http, "/v1/models/half_plus_two/versions/1:predict", {"instances": [1.0, 2.0, 5.0]})) == {
        "predictions": [2.5, 3.0, 4.5]
    }
    assert ok_json(post(http, "/v1/models/half_plus_two/labels/stable:predict", {"inputs": [1.0, 2.0, 5.0]})) == {
        "outputs": [2.5, 3.0, 4.5]
    }
    assert ok_json(post(http, "/v1/models/half_plus_two:predict", {"instances": [1.0]})) == {"predictions": [3.5]}
    named = {"signature_name": "serving_default", "instances": [{"x": 1.0}, {"x": 3}]}
    assert ok_json(post(http, "/v1/models/half_plus_two/versions/1:predict", named)) == {"predictions": [2.5, 3.5]}
    assert ok_json(post(http, "/v1/models/half_plus_two/versions/1:predict", {"inputs": {"x": [4]}})) == {
        "outputs": [4.0]
    }


def test_several_inputs_and_outputs_in_both_formats(http):
    rows = {"instances": [{"a": [1.0, 2.0], "b": [10]}, {"a": [3.0, 4.0], "b": [20]}]}
    assert ok_json(post(http, "/v1/models/multi:predict", rows)) == {
        "predictions": [{"sum": [11.0, 12.0], "neg": [-1.0, -2.0]}, {"sum": [23.0, 24.0], "neg": [-3.0, -4.0]}]
    }
    columns = {"inputs": {"a": [[1.0, 2.0], [3.0, 4.0]], "b": [[10], [20]]}}
    assert ok_json(post(http, "/v1/models/multi:predict", columns)) == {
        "outputs": {"sum": [[11.0, 12.0], [23.0, 24.0]], "neg": [[-1.0, -2.0], [-3.0, -4.0]]}
    }


def test_b64_binary_values(http):
    pixels = bytes([0, 10, 20, 30])
    body = {"instances": [{"pixels": {"b64": base64.b64encode(pixels).decode()}}, [[4, 4], [4, 4]]]}
    assert ok_json(post(http, "/v1/models/image:predict", body)) == {"predictions": [15.0, 4.0]}
    short = {"instances": [{"pixels": {"b64": base64.b64encode(b"\x01\x02").decode()}}]}
    assert "b64" in error_of(post(http, "/v1/models/image:predict", short), 400)


def test_nan_and_infinity_tokens_in_and_out(http):
    response = post(http, "/v1/models/half_plus_two/versions/1:predict", '{"instances": [NaN, Infinity, -Infinity]}')
    assert response.status_code == 200, response.text
    assert response.text.replace(" ", "") == '{"predictions":[NaN,Infinity,-Infinity]}'
    values = json.loads(response.text)["predictions"]
    assert math.isnan(values[0]) and values[1] == math.inf and values[2] == -math.inf


def test_floats_come_back_in_shortest_round_trip_form(http):
    x = np.float32(0.1)
    expected = np.float32(0.5) * x + np.float32(2.0)
    response = post(http, "/v1/models/half_plus_two/versions/1:predict", {"instances": [float(x), 4]})
    # numpy prints a float32 in its shortest round-trip form ("2.05", not 2.049999952316284).
    assert response.text == '{"predictions":[' + str(expected) + ",4.0]}"


def test_a_numpy_clients_body_is_read_exactly(server, http):
    # json.dumps of a float32 array's tolist(): 16-17 digit decimals, and
    # exponents below 1e-4 ("1e-05"); the REST answer must equal the in-process
    # predict on the same float32 values, bit for bit.
    rng = np.random.default_rng(3)
    magnitudes = 10.0 ** rng.uniform(-9, 6, 2000)
    x = (magnitudes * rng.choice([-1.0, 1.0], 2000)).astype(np.float32)
    x[:20] = 0.0
    x[20:40] = rng.random(20).astype(np.float32)
    body = json.dumps({"instances": x.tolist()})
    assert "e-0" in body and re.search(r"\d{17}", body)  # both kinds of token are there
    predictions = ok_json(post(http, "/v1/models/half_plus_two/versions/1:predict", body))["predictions"]
    expected = server.core.predict("half_plus_two", x, version=1)
    assert np.array_equal(np.array(predictions, np.float32), expected)


def test_classify_and_regress(http):
    body = {"examples": [{"x": [0.0, 0.0, 0.0]}, {"x": [0.0, math.log(3.0), 0.0]}]}
    results = ok_json(post(http, "/v1/models/classifier:classify", body))["results"]
    assert [[label for label, _ in row] for row in results] == [["0", "1", "2"], ["0", "1", "2"]]
    assert np.allclose([[score for _, score in row] for row in results], [[1 / 3] * 3, [0.2, 0.6, 0.2]], atol=1e-6)
    regress = {"context": {}, "examples": [{"x": [1.0, 2.0]}, {"x": [3.0, 4.5]}]}
    assert ok_json(post(http, "/v1/models/regressor:regress", regress)) == {"results": [3.0, 7.5]}
    assert "classify" in error_of(post(http, "/v1/models/multi:classify", {"examples": [{"a": [1, 2], "b": [1]}]}), 400)
    assert "regress" in error_of(post(http, "/v1/models/classifier:regress", body), 400)


# --- bad requests: the right 4xx, and the server keeps serving ----------------------------


BAD_PREDICT_BODIES = [
    ("", "empty body"),
    ("{", "malformed JSON"),
    ('{"instances": [1.0,', "cut off"),
    ("[1.0]", "not an object"),
    ('{"instances": [1.0]} trailing', "trailing garbage"),
    ('{"instances": "one"}', "a string"),
    ('{"instances": []}', "no instances"),
    ('{"nothing": [1.0]}', "neither instances nor inputs"),
    ('{"instances": [1.0], "inputs": [1.0]}', "both formats"),
    ('{"instances": [[1.0, 2.0], [3.0]]}', "ragged"),
    ('{"instances": [[1.0], [2.0]]}', "one rank too many"),
    ('{"instances": [true]}', "a bool for a float"),
    ('{"instances": [1e400]}', "a number too big for a double"),
    ('{"instances": [0.2e309]}', "a fraction whose exponent overflows"),
    ('{"instances": [' + "9" * 5000 + "]}", "an integer of 5,000 digits"),
    ('{"instances": [{"y": 1.0}]}', "an unknown input name"),
    ('{"signature_name": "other", "instances": [1.0]}', "an unknown signature"),
    ('{"signature_name": 7, "instances": [1.0]}', "a signature name that is not a string"),
    ("[" * 100_000 + "]" * 100_000, "nested 100,000 deep"),
    ('{"instances": ' + "[" * 100_000 + "1" + "]" * 100_000 + "}", "values nested 100,000 deep"),
]


@pytest.mark.parametrize("body,why", BAD_PREDICT_BODIES, ids=[why for _, why in BAD_PREDICT_BODIES])
def test_bad_predict_bodies_are_400_and_the_server_keeps_serving(http, body, why):
    message = error_of(post(http, "/v1/models/half_plus_two/versions/1:predict", body), 400)
    assert message, why
    assert ok_json(post(http, "/v1/models/half_plus_two/versions/1:predict", {"instances": [2.0]})) == {
        "predictions": [3.0]
    }


# CVE-2024-38517: this number crashed the server through Debian 12's RapidJSON.
HOSTILE_NUMBER = "0.0000000001e-2147483639"


def test_hostile_numbers_anywhere_in_a_body_leave_the_server_serving(http):
    predict = "/v1/models/half_plus_two/versions/1:predict"  # 0.5 * x + 2
    # The number reads as 0.0, as strtod reads it.
    assert ok_json(post(http, predict, f'{{"instances": [{HOSTILE_NUMBER}]}}')) == {"predictions": [2.0]}
    assert ok_json(post(http, predict, '{"instances": [1e-99999999999999999999]}')) == {"predictions": [2.0]}
    (third,) = ok_json(post(http, predict, '{"inputs": [0.' + "3" * 5000 + "]}"))["outputs"]
    assert third == pytest.approx(0.5 / 3 + 2.0)
    results = ok_json(
        post(http, "/v1/models/classifier:classify", f'{{"examples": [{{"x": [{HOSTILE_NUMBER}, 1e-400, 0]}}]}}')
    )
    assert [score for _, score in results["results"][0]] == pytest.approx([1 / 3] * 3)
    version_labels = f'{{"base_path": "/x", "version_labels": {{"a": {HOSTILE_NUMBER}}}}}'
    assert "label versions must be integers" in error_of(post(http, "/v1/models/m:add", version_labels), 400)
    assert error_of(post(http, "/v1/models/half_plus_two/labels/x:assign", f'{{"version": {HOSTILE_NUMBER}}}'), 400)
    assert error_of(post(http, "/v1/models/half_plus_two/labels/x:assign", '{"version": 1e400}'), 400)
    assert ok_json(post(http, predict, {"instances": [2.0]})) == {"predictions": [3.0]}


def test_wrong_types_for_integer_inputs(http):
    base = {"a": [1.0, 2.0]}
    for b, fragment in (([1.5], "integer"), ([2**63], "int64"), (["x"], "")):
        message = error_of(post(http, "/v1/models/multi:predict", {"instances": [{**base, "b": b}]}), 400)
        assert fragment in message.lower() or fragment == ""
    assert "b" in error_of(post(http, "/v1/models/multi:predict", {"instances": [base]}), 400)


def test_error_statuses_follow_tf_serving(http):
    assert "Servable not found" in error_of(post(http, "/v1/models/nope:predict", {"instances": [1.0]}), 404)
    assert error_of(post(http, "/v1/models/half_plus_two/versions/9:predict", {"instances": [1.0]}), 404)
    assert error_of(post(http, "/v1/models/half_plus_two/labels/beta:predict", {"instances": [1.0]}), 404)
    assert "Failed to convert version" in error_of(post(http, "/v1/models/m/versions/x:predict", "{}"), 400)
    assert "Malformed request" in error_of(post(http, "/v1/models/half_plus_two:explode", "{}"), 400)
    assert "Malformed request" in error_of(http.put(http.base + "/v1/models/half_plus_two", timeout=10), 400)
    assert "Malformed request" in error_of(get(http, "/v1/models/half_plus_two:predict"), 400)
    assert error_of(get(http, "/no/such/path"), 404)
    assert error_of(post(http, "/v2/health/live", ""), 405)


def test_an_oversized_body_is_413_and_the_server_keeps_serving(server, http):
    huge = '{"instances": [' + ",".join(["1.0"] * 400_000) + "]}"
    assert len(huge) > 1 << 20
    response = raw_http(
        server.rest_port,
        b"POST /v1/models/half_plus_two:predict HTTP/1.1\r\nHost: x\r\n"
        + f"Content-Length: {len(huge)}\r\n\r\n".encode()
        + huge.encode()[:65536],
    )
    assert status_line(response) == 413
    assert b"larger than the limit" in response
    assert ok_json(post(http, "/v1/models/half_plus_two/versions/1:predict", {"instances": [0.0]}))


def test_clients_that_stall_or_lie_about_the_length_get_408(server, http):
    started = time.monotonic()
    half = b'POST /v1/models/half_plus_two:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"inst'
    assert status_line(raw_http(server.rest_port, half)) == 408
    assert time.monotonic() - started < TIMEOUT_MS / 1000 + 5
    headers_only = b"GET /v1/models/half_plus_two HTTP/1.1\r\nHost: x\r\n"  # no blank line: headers never end
    assert status_line(raw_http(server.rest_port, headers_only)) == 408
    assert ok_json(post(http, "/v1/models/half_plus_two/versions/1:predict", {"instances": [0.0]}))


def test_malformed_http_is_400(server, http):
    assert status_line(raw_http(server.rest_port, b"NOT HTTP AT ALL\r\n\r\n")) == 400
    bad_length = b"POST /v1/models/half_plus_two:predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}"
    assert status_line(raw_http(server.rest_port, bad_length)) == 400
    # A body longer than its Content-Length: the extra bytes are not a request.
    long_body = (
        b"POST /v1/models/half_plus_two/versions/1:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n"
        b'{"instances": [1.0]}XXXX\r\n\r\n'
    )
    response = raw_http(server.rest_port, long_body)
    assert status_line(response) == 200 and b"400 Bad Request" in response
    assert ok_json(post(http, "/v1/models/half_plus_two/versions/1:predict", {"instances": [0.0]}))


def test_keep_alive_serves_many_requests_on_one_connection(server):
    request = (
        b"POST /v1/models/half_plus_two/versions/1:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n"
        b'{"instances": [1.0]}'
    )
    close = b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    response = raw_http(server.rest_port, request * 5 + close)
    assert response.count(b"HTTP/1.1 200 OK") == 6
    assert response.count(b'{"predictions":[2.5]}') == 5


# --- model management over HTTP -------------------------------------------------------------


def test_add_load_unload_label_and_remove_over_http(http, repo, tmp_path):
    save(half_plus(10.0), tmp_path / "added", 1)
    save(half_plus(20.0), tmp_path / "added", 2)
    add = {"base_path": str(tmp_path / "added"), "model_version_policy": {"latest": {"num_versions": 1}}}
    assert ok_json(post(http, "/v1/models/added:add", add)) == {}
    assert "already configured" in error_of(post(http, "/v1/models/added:add", add), 409)
    assert ok_json(post(http, "/v1/models/added:predict", {"instances": [0.0]})) == {"predictions": [20.0]}
    assert ok_json(post(http, "/v1/models/added/versions/1:load", "")) == {}
    assert ok_json(post(http, "/v1/models/added/versions/1:predict", {"instances": [0.0]})) == {"predictions": [10.0]}
    assert ok_json(post(http, "/v1/models/added/labels/stable:assign", {"version": 1})) == {}
    assert ok_json(post(http, "/v1/models/added/labels/stable:predict", {"instances": [0.0]})) == {
        "predictions": [10.0]
    }
    assert "labelled 'stable'" in error_of(post(http, "/v1/models/added/versions/1:unload", ""), 400)
    assert ok_json(post(http, "/v1/models/added/labels/stable:assign", {"version": 2})) == {}
    assert ok_json(post(http, "/v1/models/added/versions/1:unload", "")) == {}
    assert error_of(post(http, "/v1/models/added/versions/5:load", ""), 404)
    assert error_of(post(http, "/v1/models/added:add", {"base_path": 3}), 400)
    assert ok_json(post(http, "/v1/models/added:remove", "")) == {}
    assert error_of(post(http, "/v1/models/added:remove", ""), 404)
    for _ in range(200):
        if post(http, "/v1/models/added:predict", {"instances": [0.0]}).status_code == 404:
            break
        time.sleep(0.01)
    assert error_of(post(http, "/v1/models/added:predict", {"instances": [0.0]}), 404)


def test_management_is_off_unless_enabled(repo):
    with servekit.ModelServer(model_name="half_plus_two", model_base_path=repo / "half_plus_two", rest_api_port=0) as s:
        response = requests.post(f"{s.url}/v1/models/half_plus_two:remove", timeout=10)
        assert response.status_code == 403 and "disabled" in response.json()["error"]
        response = requests.post(f"{s.url}/v1/models/half_plus_two:predict", json={"instances": [2.0]}, timeout=10)
        assert response.json() == {"predictions": [4.0]}  # latest version: 0.5 * 2 + 3


def test_model_server_from_python(repo):
    server = servekit.ModelServer(model_name="hp", model_base_path=repo / "half_plus_two", rest_api_port=0)
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.rest_port
    server.start()
    try:
        assert server.rest_port > 0 and server.url.endswith(str(server.rest_port))
        assert server.core.predict("hp", np.array([2.0], np.float32)).tolist() == [4.0]
        assert requests.get(f"{server.url}/v1/models/hp", timeout=10).status_code == 200
    finally:
        assert server.stop() is True
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/v1/models/hp", timeout=2)
    with pytest.raises(ValueError, match="together"):
        servekit.ModelServer(model_name="x")


def test_an_answer_larger_than_max_response_bytes_is_refused_before_it_is_written(repo):
    with servekit.ModelServer(
        model_name="half_plus_two", model_base_path=repo / "half_plus_two", rest_api_port=0, max_response_bytes=4096
    ) as s:
        url = f"{s.url}/v1/models/half_plus_two:predict"
        big = requests.post(url, json={"instances": [1.0] * 1000}, timeout=10)
        assert big.status_code == 429
        assert "--max_response_bytes" in big.json()["error"]
        assert requests.post(url, json={"instances": [1.0] * 10}, timeout=10).status_code == 200
