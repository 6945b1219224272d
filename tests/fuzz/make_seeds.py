"""Writes the fuzzers' seed corpora into tests/fuzz/corpus/<fuzzer>/ (small,
hand-picked inputs that reach each parser's main paths). Run from the repo root
after `make install-tests` (the ONNX seeds use servekit's own builder, the
tensor seeds TensorFlow's protos from tensorflow-serving-api, the SavedModel
translation seeds TensorFlow itself):

    PYTHONPATH=tests/python python3 tests/fuzz/make_seeds.py

Inputs that once found a bug are kept by hand beside these (regression-* files)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import struct
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parent / "corpus"


def write(fuzzer: str, data: bytes | str, name: str | None = None) -> None:
    if isinstance(data, str):
        data = data.encode()
    directory = CORPUS / fuzzer
    directory.mkdir(parents=True, exist_ok=True)
    (directory / (name or "seed-" + hashlib.sha1(data).hexdigest()[:12])).write_bytes(data)


# --- http_request_fuzzer ----------------------------------------------------------------
def http_request_seeds() -> None:
    """Requests on one connection (byte 0 seeds the chunking): keep-alive
    sequences, a predict body, many and long fields (past the arena's block),
    chunked bodies, pipelined requests and malformed ones."""
    predict = '{"instances": [[0.1, 0.25, -3]]}'
    post = (
        "POST /v1/models/m:predict HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(predict)}\r\n\r\n{predict}"
    )
    get = "GET /v2/health/live HTTP/1.1\r\nHost: h\r\n\r\n"
    many = "".join(f"X-Field-{i}: {chr(97 + i % 26) * 120}\r\n" for i in range(40))
    seeds = [
        get,
        post + get + "GET /v1/models/m HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        f"POST /p HTTP/1.1\r\nHost: h\r\n{many}Content-Length: 3\r\n\r\nabc" + get,
        "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + get,
        "GET / HTTP/1.0\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999\r\n\r\n",
        "BREW /pot HTTP/1.1\r\nHost h\r\n\r\n",
    ]
    for chunking, request in enumerate(seeds):
        write("http_request_fuzzer", bytes([chunking * 37 % 256]) + request.encode())


# --- json_body_fuzzer -------------------------------------------------------------------
def json_seeds() -> None:
    b64 = base64.b64encode(bytes(range(8))).decode()
    for body in [
        '{"instances": [[1, 2, 3], [4.5, -5, 6e-1]]}',
        '{"signature_name": "serving_default", "instances": [1, 2, 5]}',
        '{"instances": [{"x": [1, 2, 3]}, {"x": [4, 5, 6]}]}',
        '{"inputs": [[1, 2, 3]]}',
        '{"inputs": {"x": [[1, 2, 3]]}}',
        '{"instances": [[true, false], [false, true]]}',
        '{"instances": [[[1, 2], [3, 4]]]}',
        f'{{"instances": [{{"b64": "{base64.b64encode(bytes([1, 2, 3, 4])).decode()}"}}]}}',
        f'{{"inputs": {{"b64": "{b64}"}}}}',
        '{"instances": [{"a": [1.5, 2], "b": 3}, {"a": [0, 0], "b": -1}]}',
        '{"inputs": {"a": [[1, 2]], "b": [7]}}',
        '{"instances": [[NaN, Infinity, -Infinity]]}',
        '{"instances": [[1e308, 1e309, -1e-400]]}',
        '{"instances": [9223372036854775807, -9223372036854775808, 18446744073709551615, 1e19]}',
        '{"instances": [[1.0000000000000000000000000001e+00000000000000000000000000100, 0, 0]]}',
        '{"examples": [{"x": [1, 2, 3]}, {"x": [4, 5, 6]}]}',
        '{"signature_name": "classify", "context": {"b": 1}, "examples": [{"a": [1, 2]}, {"a": [3, 4]}]}',
        '{"context": {"ids": 5}, "examples": [{}, {}, {}]}',
        f'{{"examples": [{{"image": {{"b64": "{base64.b64encode(bytes(4)).decode()}"}}}}]}}',
        '{"instances": [' + "[" * 70 + "]" * 70 + "]}",
        '{"instances": [[1, 2, 3]], "instances": [[4, 5, 6]]}',
        '{"base_path": "/nonexistent/fuzz/m", "model_platform": "onnx"}',
        '{"base_path": "/nonexistent/fuzz/m", "model_version_policy": {"latest": {"num_versions": 2}}}',
        '{"base_path": "/nonexistent/fuzz/m", "model_version_policy": {"specific": {"versions": [1, 3]}},'
        ' "version_labels": {"stable": 1}}',
        '{"base_path": "/nonexistent/fuzz/m", "model_version_policy": {"all": {}}}',
        '{"version": 3}',
        '{"version": "17"}',
        '{"version": -1}',
    ]:
        write("json_body_fuzzer", body)


# --- grpc_framing_fuzzer: [encoding byte][timeout length][chunk seed][timeout + frames] ---
def frame(message: bytes, compressed: bool = False) -> bytes:
    return struct.pack(">BI", 1 if compressed else 0, len(message)) + message


def framing_seeds() -> None:
    message = bytes(range(40))
    deflated = zlib.compress(message)
    gzipped = gzip.compress(message)
    bomb = zlib.compress(bytes(1 << 20), 9)  # 1 MiB of zeros: above the fuzzer's 64 KiB limit
    write("grpc_framing_fuzzer", bytes([0, 3, 7]) + b"10S" + frame(message) + frame(b""))
    write("grpc_framing_fuzzer", bytes([1, 8, 1]) + b"99999999" + frame(message) * 3)
    write("grpc_framing_fuzzer", bytes([2, 2, 5]) + b"5m" + frame(gzipped, True) + frame(message))
    write("grpc_framing_fuzzer", bytes([3, 4, 9]) + b"100u" + frame(deflated, True))
    write("grpc_framing_fuzzer", bytes([3, 2, 3]) + b"1H" + frame(bomb, True))
    write("grpc_framing_fuzzer", bytes([4, 2, 0]) + b"1n" + frame(deflated, True))
    write("grpc_framing_fuzzer", bytes([0, 0, 0]) + struct.pack(">BI", 0, 0xFFFFFFFF) + b"xyz")


# --- tensor_proto_fuzzer ----------------------------------------------------------------
def tensor_seeds() -> None:
    from tensorflow.core.example import example_pb2, feature_pb2
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import input_pb2

    def tensor(dtype, dims, **fields):
        t = tensor_pb2.TensorProto(
            dtype=dtype,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
            ),
        )
        for key, value in fields.items():
            if key == "tensor_content":
                t.tensor_content = value
            else:
                getattr(t, key).extend(value)
        return t

    seeds = [
        tensor(types_pb2.DT_FLOAT, [2, 3], float_val=[1, 2, 3, 4, 5, 6]),
        tensor(types_pb2.DT_FLOAT, [1, 3], tensor_content=np.arange(3, dtype=np.float32).tobytes()),
        tensor(types_pb2.DT_FLOAT, [4, 3], float_val=[7]),
        tensor(types_pb2.DT_DOUBLE, [], double_val=[2.5]),
        tensor(types_pb2.DT_INT64, [3], int64_val=[1, -2, 1 << 62]),
        tensor(types_pb2.DT_INT32, [1, 2], int_val=[1, -2]),
        tensor(types_pb2.DT_BOOL, [2, 2], bool_val=[True, False, False, True]),
        tensor(types_pb2.DT_UINT8, [1, 2, 2], int_val=[0, 255, 256, -1]),
        tensor(types_pb2.DT_UINT8, [1, 2, 2], tensor_content=bytes([1, 2, 3, 4])),
        tensor(types_pb2.DT_INT8, [8], int_val=[-128, 127, 0, 1, 2, 3, 4, 5]),
        tensor(types_pb2.DT_FLOAT, [1 << 40, 3], float_val=[1]),
        tensor(types_pb2.DT_FLOAT, [-1, 3]),
        tensor(types_pb2.DT_STRING, [1], string_val=[b"abc"]),
        tensor(types_pb2.DT_FLOAT, [0, 3]),
    ]
    for t in seeds:
        write("tensor_proto_fuzzer", t.SerializeToString())

    def example(**features):
        feature = {}
        for name, values in features.items():
            if isinstance(values[0], float):
                feature[name] = feature_pb2.Feature(float_list=feature_pb2.FloatList(value=values))
            else:
                feature[name] = feature_pb2.Feature(int64_list=feature_pb2.Int64List(value=values))
        return example_pb2.Example(features=feature_pb2.Features(feature=feature))

    inputs = [
        input_pb2.Input(
            example_list=input_pb2.ExampleList(examples=[example(x=[1.0, 2.0, 3.0]), example(x=[4, 5, 6])])
        ),
        input_pb2.Input(example_list=input_pb2.ExampleList(examples=[example(ids=[7]), example(ids=[8], other=[1.0])])),
        input_pb2.Input(
            example_list_with_context=input_pb2.ExampleListWithContext(
                examples=[example(a=[1.0, 2.0, 3.0, 4.0]), example(a=[0.0, 0.0, 0.0, 0.0], b=[3])],
                context=example(b=[1]),
            )
        ),
        input_pb2.Input(
            example_list_with_context=input_pb2.ExampleListWithContext(
                examples=[example_pb2.Example()] * 5, context=example(ids=[1])
            )
        ),
    ]
    for i in inputs:
        write("tensor_proto_fuzzer", i.SerializeToString())


# --- onnx_reader_fuzzer ------------------------------------------------------------------
def onnx_seeds() -> None:
    import rest_testing
    import servekit
    from servekit import layers

    models = [
        servekit.Sequential([servekit.Input((4,)), layers.Dense(3, activation="relu"), layers.Dense(2)]),
        servekit.Sequential(
            [
                servekit.Input((6, 6, 1)),
                layers.Conv2D(2, 3, activation="relu"),
                layers.MaxPooling2D(2),
                layers.Flatten(),
                layers.Dense(2, activation="softmax"),
            ]
        ),
        servekit.Sequential(
            [
                servekit.Input((4, 4, 2)),
                layers.DepthwiseConv2D(3, padding="same"),
                layers.BatchNormalization(),
                layers.AveragePooling2D(2),
                layers.GlobalAveragePooling2D(),
            ]
        ),
        servekit.Sequential(
            [
                servekit.Input((8,)),
                layers.Reshape((2, 4)),
                layers.Flatten(),
                layers.Dropout(0.5),
                layers.Activation("tanh"),
            ]
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for i, model in enumerate(models):
            model.save(f"{tmp}/{i}")
            write("onnx_reader_fuzzer", Path(f"{tmp}/{i}/model.onnx").read_bytes())
    for model in [
        rest_testing.half_plus(2.0),
        rest_testing.two_in_two_out(),
        rest_testing.image_mean(),
        rest_testing.classifier(),
        rest_testing.regressor(),
    ]:
        write("onnx_reader_fuzzer", model.SerializeToString())


# --- http2_connection_fuzzer: frames after the client preface ---------------------------
def h2_frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def hpack_int(value: int, prefix_bits: int, first: int) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def hpack(fields) -> bytes:
    """Literal fields without indexing, new names, no Huffman (RFC 7541 6.2.2)."""
    out = b""
    for name, value in fields:
        out += b"\x00" + hpack_int(len(name), 7, 0) + name + hpack_int(len(value), 7, 0) + value
    return out


SETTINGS = h2_frame(4, 0, 0, struct.pack(">HI", 3, 100) + struct.pack(">HI", 4, 65535))
SETTINGS_ACK = h2_frame(4, 1, 0, b"")


def call_headers(path: bytes, extra=()) -> bytes:
    return hpack(
        [
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", path),
            (b":authority", b"localhost"),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
            *extra,
        ]
    )


def http2_seeds() -> None:
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import get_model_status_pb2, predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "m"
    request.inputs["x"].CopyFrom(
        tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT,
            float_val=[1, 2, 3],
            tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=3)]),
        )
    )
    body = frame(request.SerializeToString())
    predict = call_headers(b"/tensorflow.serving.PredictionService/Predict")
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "m"

    seeds = [
        SETTINGS,
        SETTINGS + SETTINGS_ACK + h2_frame(1, 4, 1, predict) + h2_frame(0, 1, 1, body),
        SETTINGS
        + h2_frame(
            1,
            4,
            1,
            call_headers(
                b"/tensorflow.serving.PredictionService/Predict",
                [(b"grpc-encoding", b"gzip"), (b"grpc-timeout", b"100m")],
            ),
        )
        + h2_frame(0, 1, 1, frame(gzip.compress(request.SerializeToString()), True)),
        SETTINGS
        + h2_frame(1, 5, 1, call_headers(b"/tensorflow.serving.ModelService/GetModelStatus"))
        + h2_frame(1, 4, 3, call_headers(b"/tensorflow.serving.ModelService/GetModelStatus"))
        + h2_frame(0, 1, 3, frame(status.SerializeToString())),
        SETTINGS + h2_frame(1, 4, 1, call_headers(b"/grpc.health.v1.Health/Check")) + h2_frame(0, 1, 1, frame(b"")),
        SETTINGS
        + h2_frame(1, 4, 1, call_headers(b"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"))
        + h2_frame(0, 0, 1, frame(b"\x3a\x00"))
        + h2_frame(0, 1, 1, b""),
        SETTINGS + h2_frame(6, 0, 0, b"12345678") + h2_frame(8, 0, 0, struct.pack(">I", 1 << 20)),
        SETTINGS
        + h2_frame(1, 4, 1, predict)
        + h2_frame(8, 0, 1, struct.pack(">I", 1000))
        + h2_frame(3, 0, 1, struct.pack(">I", 8)),
        SETTINGS + h2_frame(7, 0, 0, struct.pack(">II", 0, 0) + b"bye"),
        SETTINGS
        + h2_frame(1, 0, 1, predict[:20])
        + h2_frame(9, 0, 1, predict[20:40])
        + h2_frame(9, 4, 1, predict[40:])
        + h2_frame(0, 1, 1, body),
        SETTINGS + h2_frame(1, 4, 1, predict) + h2_frame(0, 0, 1, body[:7]) + h2_frame(0, 1, 1, body[7:]),
        SETTINGS + h2_frame(2, 0, 1, bytes(5)) + h2_frame(1, 0x24, 1, bytes(5) + b"\x10" + predict),
        SETTINGS + h2_frame(0, 9, 1, b"\x03abc\x00\x00\x00"),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    for seed in seeds:
        write("http2_connection_fuzzer", seed)


# --- saved_model_fuzzer, tensor_bundle_fuzzer, saved_model_translate_fuzzer ------------
def savedmodel_seeds() -> None:
    # The SavedModels TensorFlow wrote for the C++ tests; TensorFlow's protos slim
    # them for saved_model_translate_fuzzer.
    models = Path(__file__).resolve().parent.parent / "data" / "savedmodel"
    for model in sorted(p for p in models.iterdir() if p.is_dir()):
        if (model / "saved_model.pb").exists():  # sliced_module keeps only its bundle
            write("saved_model_fuzzer", (model / "saved_model.pb").read_bytes(), f"seed-{model.name}")
        # tensor_bundle_fuzzer's input: a flags byte (bit 0: skip checksums),
        # the index's length (4 bytes, little endian), the index, then the
        # bytes that stand for every data file (here the first one's, so that
        # shard 0's tensors decode). One seed of each kind.
        index = (model / "variables" / "variables.index").read_bytes()
        data = sorted((model / "variables").glob("variables.data-*"))[0].read_bytes()
        for flags in (0, 1):
            seed = bytes([flags]) + struct.pack("<I", len(index)) + index + data
            write("tensor_bundle_fuzzer", seed, f"seed-{model.name}-{flags}")
        if (model / "saved_model.pb").exists():
            slim = slim_saved_model((model / "saved_model.pb").read_bytes())
            write("saved_model_translate_fuzzer", slim, f"seed-{model.name}")
    # The SavedModel tests' models (Conv, batch norm, pooling, depthwise and
    # separable convolutions, Concatenate, ArgMax, two signatures, Keras 2, TF1),
    # written by TensorFlow into a scratch directory.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "savedmodel"))
    import saved_models

    with tempfile.TemporaryDirectory() as scratch:
        for name, writer in saved_models.WRITERS.items():
            writer(Path(scratch) / name)
            pb = (Path(scratch) / name / "saved_model.pb").read_bytes()
            write("saved_model_translate_fuzzer", slim_saved_model(pb), f"seed-{name}")


def slim_saved_model(data: bytes) -> bytes:
    """The part of a saved_model.pb that the loader reads to translate its
    signatures: the {serve} meta graph's signatures, the top-level nodes they
    reach, the functions those call, without control inputs, internal ("_")
    attributes, argument attributes or the object graph. Mutations of a few KB
    reach the translator far more often than mutations of the whole file."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(data)
    (meta_graph,) = [m for m in saved_model.meta_graphs if list(m.meta_info_def.tags) == ["serve"]]
    out = saved_model_pb2.SavedModel(saved_model_schema_version=saved_model.saved_model_schema_version)
    slim = out.meta_graphs.add()
    slim.meta_info_def.tags.append("serve")
    slim.graph_def.versions.CopyFrom(meta_graph.graph_def.versions)
    tensors = []
    for name, signature in meta_graph.signature_def.items():
        if not name.startswith("__"):
            slim.signature_def[name].CopyFrom(signature)
            tensors += [info.name for info in [*signature.inputs.values(), *signature.outputs.values()]]

    def strip(node):
        data_inputs = [i for i in node.input if not i.startswith("^")]
        del node.input[:]
        node.input.extend(data_inputs)
        for key in [k for k in node.attr if k.startswith("_") or k == "config_proto"]:
            del node.attr[key]
        node.ClearField("experimental_debug_info")

    nodes = {node.name: node for node in meta_graph.graph_def.node}
    kept, stack = set(), [t.split(":")[0] for t in tensors]
    while stack:
        name = stack.pop()
        if name in kept or name not in nodes:
            continue
        kept.add(name)
        stack += [i.split(":")[0] for i in nodes[name].input if not i.startswith("^")]
    functions = {f.signature.name: f for f in meta_graph.graph_def.library.function}
    called, calls = set(), [nodes[n].attr["f"].func.name for n in kept if "f" in nodes[n].attr]
    while calls:
        name = calls.pop()
        if name in called or name not in functions:
            continue
        called.add(name)
        for node in functions[name].node_def:
            calls += [attr.func.name for attr in node.attr.values() if attr.HasField("func")]
    for node in meta_graph.graph_def.node:
        if node.name in kept:
            copy = slim.graph_def.node.add()
            copy.CopyFrom(node)
            strip(copy)
    for function in meta_graph.graph_def.library.function:
        if function.signature.name in called:
            copy = slim.graph_def.library.function.add()
            copy.CopyFrom(function)
            copy.ClearField("arg_attr")
            copy.ClearField("resource_arg_unique_id")
            copy.ClearField("control_ret")
            copy.signature.ClearField("control_output")
            for node in copy.node_def:
                strip(node)
    return out.SerializeToString(deterministic=True)


if __name__ == "__main__":
    # servekit's module and TensorFlow's protos cannot share a process (both
    # register onnx/tensorflow descriptors): the ONNX seeds get their own.
    if not sys.argv[1:]:
        import subprocess

        subprocess.run([sys.executable, __file__, "onnx"], check=True)
    which = sys.argv[1:] or ["json", "framing", "tensor", "http2", "http", "savedmodel"]
    for name in which:
        {
            "json": json_seeds,
            "framing": framing_seeds,
            "tensor": tensor_seeds,
            "onnx": onnx_seeds,
            "http2": http2_seeds,
            "http": http_request_seeds,
            "savedmodel": savedmodel_seeds,
        }[name]()
