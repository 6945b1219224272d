"""SavedModel benchmark: servekit serving TensorFlow SavedModels natively, beside
TensorFlow, Keras, OpenVINO and onnxruntime on the same models (issue 12, §5).

Two Keras 3 models, written by the SavedModel tests' own writers
(tests/savedmodel/saved_models.py: `keras3_mlp`, MNIST MLP 784-128-10, and
`keras3_cnn`, Conv2D-BatchNorm-MaxPool-Conv2D-MaxPool-Dropout-Flatten-Dense on
28x28x1, seeded random weights), exported with `model.export(dir)`. The same
Keras models are also saved as `model.keras` and exported to ONNX with Keras's
own `model.export(path, format="onnx")` (tf2onnx from the SavedModel if that
fails). For every model and runtime it measures the load time and the p50
latency of one predict call from Python at batch 1 and batch 32:

  servekit (SavedModel)        servekit.load(dir) + predict, no TensorFlow in the process
  servekit (ONNX)              servekit.load(model.onnx) + predict
  servekit (ONNX, Flatten's    the same on a copy of model.onnx whose run-time Flatten shape (tf2onnx's
    shape folded by the bench) Shape-Gather-Cast-Slice-Concat-Cast into Reshape) is the constant
                               [-1, n]; only where there is one (the CNN), in case servekit cannot
                               load the original
  servekit-pair (no row)       both files loaded in one process, their later loads and their calls
                               alternating: the SavedModel / ONNX ratios of issue 12's targets
                               for p50 and for reloads (see below)
  TensorFlow signature         tf.saved_model.load(dir) + signatures["serving_default"](tf.constant(x)), .numpy()
  Keras model.predict          keras.saving.load_model(model.keras) + model.predict(x, verbose=0)
  Keras model(x)               the same loaded model called directly (eager, training=False), .numpy()
  OpenVINO (SavedModel, f32)   openvino.convert_model(dir) + compile_model("CPU", LATENCY hint, f32
                               inference precision, no CPU pinning) + an infer request;
                               load time = convert + compile
  OpenVINO (f32, 1 thread)     the same with INFERENCE_NUM_THREADS 1, as servekit's default
  OpenVINO (CPU's default      the LATENCY hint alone: OpenVINO then computes in bf16 on CPUs that
    precision)                 have it (printed with the versions), hence its larger diff
  onnxruntime, 1 thread        InferenceSession(model.onnx), 1 intra-op and 1 inter-op thread, sequential
  onnxruntime, default         InferenceSession(model.onnx) with onnxruntime's default threads

servekit runs with its default, one intra-op thread; TensorFlow, Keras and
OpenVINO (but its 1-thread row) with their defaults (every core). Every output is compared with what
TensorFlow's serving_default signature computes for the same input.

TensorFlow and onnxruntime abort when loaded into one process (and servekit
must be imported before TensorFlow when both are), so this script is a driver:
one TensorFlow subprocess writes the models, then every (round, model,
runtime) is measured in a fresh subprocess that imports only its runtime and
writes its results as JSON. Rounds interleave the runtimes (the order rotates
each round), so the machine's drift shows up as spread in every row alike.
A load time is the first load in a fresh process, its runtime already
imported (the import is its own column). Table cells are medians over the
rounds (min-max in brackets); each ratio is computed within each round and
its median (min-max) printed.

The p50 and reload targets compare servekit with itself on two files of one
model, so they are measured in one process with the two alternating
(servekit-pair): on the 2-core VM, separate processes running the very same
steps gave p50 ratios from 0.8 to 1.5 within one run, while alternating calls
gave 0.99-1.01. The first-load target needs fresh processes: after the runtimes of
each round, five processes that each import servekit and load one file once
(ONNX, discarded, then SavedModel, ONNX, ONNX, SavedModel) give it, every timed
load following a servekit process (see first_load_ratio for why the order matters).

    python bench/savedmodel_bench.py                 # full run (5 rounds, about 10 minutes)
    python bench/savedmodel_bench.py --quick         # 2 rounds, shorter timing windows
    python bench/savedmodel_bench.py --rounds 3 --only servekit,openvino --models keras3_cnn

Bench-only dependencies (scripts/setup.sh --dev installs them): tensorflow,
keras, onnx, onnxruntime, tf2onnx (Keras's ONNX export calls it) and openvino.
A runtime that is not installed is skipped with the command that installs it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
SAVEDMODEL_TESTS = BENCH.parent / "tests" / "savedmodel"
sys.path.insert(0, str(BENCH))
from bench_harness import print_header  # noqa: E402

MODELS = ["keras3_mlp", "keras3_cnn"]
BATCHES = [1, 32]
SIGNATURE = "serving_default"
INSTALL = {
    "openvino": "pip install openvino  (bench-only; scripts/setup.sh --dev)",
    "tf2onnx": "pip install tf2onnx  (bench-only; Keras's ONNX export needs it; scripts/setup.sh --dev)",
    "onnxruntime": "pip install onnxruntime  (scripts/setup.sh --dev)",
    "tensorflow": "pip install tensorflow  (scripts/setup.sh --dev)",
}

# Row labels, in table order.
SK_SAVEDMODEL = "servekit (SavedModel)"
SK_ONNX = "servekit (ONNX)"
SK_ONNX_FOLDED = "servekit (ONNX, Flatten's shape folded by the bench)"
TF_SIGNATURE = "TensorFlow signature call"
KERAS_PREDICT = "Keras model.predict"
KERAS_CALL = "Keras model(x) (eager call)"
OPENVINO = "OpenVINO (SavedModel, f32)"
OPENVINO_1 = "OpenVINO (SavedModel, f32, 1 inference thread)"
OPENVINO_DEFAULT = "OpenVINO (SavedModel, CPU's default precision)"
ORT_1 = "onnxruntime, 1 intra-op thread"
ORT_DEFAULT = "onnxruntime, default threads"
ROW_ORDER = [
    SK_SAVEDMODEL,
    SK_ONNX,
    SK_ONNX_FOLDED,
    TF_SIGNATURE,
    KERAS_PREDICT,
    KERAS_CALL,
    OPENVINO,
    OPENVINO_1,
    OPENVINO_DEFAULT,
    ORT_1,
    ORT_DEFAULT,
]


# ---------------------------------------------------------------------------
# Subprocess side: the writer and one worker per runtime. Each writes JSON to --out.


def time_calls(fn, calls: int, seconds: float, warmup: int = 5) -> float:
    """p50 in µs of up to `calls` calls of fn, stopping early after `seconds` (at least 10 calls)."""
    return time_alternating([fn], calls, seconds, warmup)[0]


def time_alternating(fns, calls: int, seconds: float, warmup: int = 5) -> list[float]:
    """time_calls for several functions at once, their calls alternating: one p50 per function."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    latencies = [[] for _ in fns]
    deadline = time.perf_counter() + seconds
    for _ in range(calls):
        for fn, times in zip(fns, latencies, strict=True):
            start = time.perf_counter_ns()
            fn()
            times.append((time.perf_counter_ns() - start) / 1e3)
        if len(latencies[0]) >= 10 and time.perf_counter() > deadline:
            break
    return [float(np.percentile(times, 50)) for times in latencies]


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, (time.perf_counter() - start) * 1e3


def fold_dynamic_flatten(source: Path, target: Path) -> bool:
    """Writes `source` to `target` with each Reshape whose shape is computed at run
    time (tf2onnx's Flatten: Shape, Gather, Cast, Slice, Concat, Cast) given the
    constant shape [-1, product of the data's other dims] instead. Only for a
    flatten whose data shape onnx infers except for the batch. False if there
    is none."""
    import onnx
    from onnx import numpy_helper, shape_inference

    model = onnx.load(str(source))
    inferred = shape_inference.infer_shapes(model)
    shapes = {
        v.name: [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]
        for v in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]
    }
    constants = {i.name for i in model.graph.initializer}
    folded = False
    for node in model.graph.node:
        if node.op_type != "Reshape" or node.input[1] in constants:
            continue
        data, out = shapes.get(node.input[0]), shapes.get(node.output[0])
        if not data or not out or len(out) != 2 or -1 in data[1:]:
            continue
        name = f"{node.input[1]}__folded_by_bench"
        model.graph.initializer.append(numpy_helper.from_array(np.array([-1, np.prod(data[1:])], np.int64), name))
        node.input[1] = name
        folded = True
    if folded:
        onnx.save(model, str(target))
    return folded


def write_models(workdir: Path) -> dict:
    """The TensorFlow subprocess: SavedModel, model.keras, model.onnx and TensorFlow's reference outputs."""
    import tensorflow as tf

    sys.path.insert(0, str(SAVEDMODEL_TESTS))
    import keras

    import saved_models

    info = {"versions": {"tensorflow": tf.__version__, "keras": keras.__version__}, "models": {}}
    original_export = keras.Model.export
    for name in MODELS:
        out = workdir / name
        captured = []

        def export(self, filepath, *args, _captured=captured, **kwargs):
            _captured.append(self)
            return original_export(self, filepath, *args, **kwargs)

        # The writers build the Keras model and export it; keep the model too.
        keras.Model.export = export
        try:
            saved_models.WRITERS[name](out / "saved_model")
        finally:
            keras.Model.export = original_export
        (model,) = captured
        model.save(out / "model.keras")

        loaded = tf.saved_model.load(str(out / "saved_model"))
        function = loaded.signatures[SIGNATURE]
        (key,) = function.structured_input_signature[1]
        reference = {}
        for batch in BATCHES:
            x = np.random.default_rng(batch).standard_normal((batch, *model.input_shape[1:])).astype(np.float32)
            (y,) = function(**{key: tf.constant(x)}).values()
            reference[f"x{batch}"], reference[f"y{batch}"] = x, y.numpy()
        np.savez(out / "reference.npz", **reference)

        entry = {"input_key": key}
        onnx_path = out / "model.onnx"
        try:
            original_export(model, str(onnx_path), format="onnx", verbose=False)
            entry["onnx_exporter"] = "Keras model.export(format='onnx')"
        except Exception as error:  # any failure: fall back to tf2onnx
            entry["keras_onnx_error"] = f"{type(error).__name__}: {error}"[:300]
            command = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(out / "saved_model")]
            converted = subprocess.run([*command, "--output", str(onnx_path)], capture_output=True, text=True)
            if converted.returncode == 0:
                entry["onnx_exporter"] = "tf2onnx.convert --saved-model"
            else:
                entry["onnx_error"] = (converted.stderr.strip().splitlines() or ["failed"])[-1][:300]
        if onnx_path.exists() and fold_dynamic_flatten(onnx_path, out / "model.folded.onnx"):
            entry["folded_onnx"] = True
        info["models"][name] = entry
    with contextlib.suppress(ImportError):
        import tf2onnx

        info["versions"]["tf2onnx"] = tf2onnx.__version__
    return info


RELOADS = 20  # servekit rows: later loads of the same files in the same process, timed after the first


def measure(label: str, load, make_run, reference, calls: int, seconds: float, extra=None, reloads=0) -> dict:
    """One row: load() once, then for each batch make_run(model) -> fn(x) -> numpy output.

    With `reloads`, load() is also timed that many more times after the first
    (each result dropped before the next): what a server that already serves
    pays for a new version, the first load's one-time costs (code paged in,
    caches and pools set up) already paid. Its median is the row's reload_ms.
    """
    model, load_ms = timed(load)
    row = {"label": label, "load_ms": load_ms, "p50_us": {}, "max_abs_diff": 0.0, **(extra or {})}
    if reloads:
        row["reload_ms"] = statistics.median(timed(load)[1] for _ in range(reloads))
    run = make_run(model)
    for batch in BATCHES:
        x, want = reference[f"x{batch}"], reference[f"y{batch}"]
        got = np.asarray(run(x))
        row["max_abs_diff"] = max(row["max_abs_diff"], float(np.max(np.abs(got - want))))
        row["p50_us"][str(batch)] = time_calls(lambda run=run, x=x: run(x), calls, seconds)
    return row


PAIRED_LOADS = 40  # servekit-pair: loads of each file, SavedModel and ONNX alternating


def paired(load, saved_model: Path, onnx_file: Path, reference, calls: int, seconds: float) -> dict:
    """servekit on the two files of one model in one process, their loads and
    calls alternating, so that both see the same machine at the same moment:
    the ratio of the medians of their later loads, and of their p50s per batch."""
    models = load(saved_model), load(onnx_file)
    loads: tuple[list, list] = ([], [])
    for _ in range(PAIRED_LOADS):
        for path, times in zip((saved_model, onnx_file), loads, strict=True):
            times.append(timed(lambda path=path: load(path))[1])
    pair = {"reload_ratio": statistics.median(loads[0]) / statistics.median(loads[1]), "p50_ratio": {}}
    for batch in BATCHES:
        x = reference[f"x{batch}"]
        p50s = time_alternating([lambda model=model, x=x: model.predict(x) for model in models], calls, seconds)
        pair["p50_ratio"][str(batch)] = p50s[0] / p50s[1]
    return pair


def run_worker(runtime: str, model_dir: Path, calls: int, seconds: float) -> dict:
    """Measures one runtime on one model in this (fresh) process; returns {rows, version, import_ms, ...}."""
    reference = dict(np.load(model_dir / "reference.npz"))
    saved_model, onnx_file, folded = (
        model_dir / "saved_model",
        model_dir / "model.onnx",
        model_dir / "model.folded.onnx",
    )
    args = (reference, calls, seconds)
    start = time.perf_counter()
    try:
        if runtime.startswith("servekit"):
            import servekit as module
        elif runtime in ("tensorflow", "keras"):
            import tensorflow as tf

            module = tf
        elif runtime.startswith("openvino"):
            import openvino as module
        else:
            import onnxruntime as module
    except ImportError as error:
        missing = error.name or runtime
        return {"skipped": f"{missing} is not installed: {INSTALL.get(missing, f'pip install {missing}')}"}
    import_ms = (time.perf_counter() - start) * 1e3
    result = {"import_ms": import_ms, "versions": {module.__name__: module.__version__}, "rows": []}
    rows, errors = result["rows"], result.setdefault("errors", [])

    if runtime == "servekit":
        rows.append(
            measure(SK_SAVEDMODEL, lambda: module.load(saved_model), lambda m: m.predict, *args, reloads=RELOADS)
        )
    elif runtime == "servekit-onnx":
        if not onnx_file.exists():
            return {"skipped": "no model.onnx (the ONNX export failed; see above)"}
        try:
            rows.append(measure(SK_ONNX, lambda: module.load(onnx_file), lambda m: m.predict, *args, reloads=RELOADS))
        except module.Error as error:
            errors.append(f"servekit.load(model.onnx) failed: {error}")
    elif runtime == "servekit-pair":
        # The ONNX file the targets compare with: as exported, else the bench's folded copy.
        onnx = onnx_file if onnx_file.exists() else folded
        if not onnx.exists():
            return {"skipped": "no model.onnx (the ONNX export failed; see above)"}
        try:
            result["pair"] = paired(module.load, saved_model, onnx, reference, calls, seconds)
        except module.Error as error:
            errors.append(f"servekit.load failed: {error}")
    elif runtime == "servekit-onnx-folded":
        # Only where the writer found a run-time Flatten shape to fold; a fresh
        # process of its own, so that its load is a first load too.
        if folded.exists():
            rows.append(
                measure(SK_ONNX_FOLDED, lambda: module.load(folded), lambda m: m.predict, *args, reloads=RELOADS)
            )
    elif runtime == "tensorflow":

        def make_run(loaded):
            function = loaded.signatures[SIGNATURE]
            (key,) = function.structured_input_signature[1]
            return lambda x: next(iter(function(**{key: tf.constant(x)}).values())).numpy()

        rows.append(measure(TF_SIGNATURE, lambda: tf.saved_model.load(str(saved_model)), make_run, *args))
    elif runtime == "keras":
        import keras

        model, load_ms = timed(lambda: keras.saving.load_model(model_dir / "model.keras"))
        result["versions"]["keras"] = keras.__version__
        for label, make_run in [
            (KERAS_PREDICT, lambda m: lambda x: m.predict(x, verbose=0)),
            (KERAS_CALL, lambda m: lambda x: m(x, training=False).numpy()),
        ]:
            row = measure(label, lambda: model, make_run, *args)
            row["load_ms"] = load_ms
            rows.append(row)
    elif runtime.startswith("openvino"):
        core = module.Core()
        default_precision = core.get_property("CPU", "INFERENCE_PRECISION_HINT").to_string()
        result["versions"]["openvino CPU default precision"] = default_precision
        # No pinning: on a shared 2-core machine a thread pinned to the core a build
        # holds waits for it (p50s 10x worse in some runs); servekit, ORT and TF do not pin.
        config = {"PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False}
        if runtime != "openvino-default-precision":
            # float32 as every other row; OpenVINO's CPU default is bf16 where the CPU has it.
            config["INFERENCE_PRECISION_HINT"] = "f32"
        if runtime == "openvino-1-thread":
            config["INFERENCE_NUM_THREADS"] = 1
        converted, convert_ms = timed(lambda: module.convert_model(str(saved_model)))

        def compile_model():
            return core.compile_model(converted, "CPU", config)

        def make_run(compiled):
            request = compiled.create_infer_request()
            return lambda x: request.infer({0: x})[0]

        label = {"openvino": OPENVINO, "openvino-1-thread": OPENVINO_1, "openvino-default-precision": OPENVINO_DEFAULT}
        row = measure(label[runtime], compile_model, make_run, *args)
        row["convert_ms"], row["compile_ms"] = convert_ms, row["load_ms"]
        row["load_ms"] += convert_ms
        rows.append(row)
    else:
        if not onnx_file.exists():
            return {"skipped": "no model.onnx (the ONNX export failed; see above)"}

        def session():
            options = module.SessionOptions()
            if runtime == "ort-1":
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                options.execution_mode = module.ExecutionMode.ORT_SEQUENTIAL
            return module.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])

        def make_run(s):
            name = s.get_inputs()[0].name
            return lambda x: s.run(None, {name: x})[0]

        rows.append(measure(ORT_1 if runtime == "ort-1" else ORT_DEFAULT, session, make_run, *args))
    return result


RUNTIMES = [
    "servekit",
    "servekit-onnx",
    "servekit-onnx-folded",
    "servekit-pair",
    "tensorflow",
    "keras",
    "openvino",
    "openvino-1-thread",
    "openvino-default-precision",
    "ort-1",
    "ort-default",
]


# ---------------------------------------------------------------------------
# Driver side.


def first_load_ratio(model_dir: Path, workdir: Path, tag: str) -> float | None:
    """SavedModel / ONNX first-load ratio from fresh processes that each import
    servekit and load one file once, run ONNX (discarded), SavedModel, ONNX, ONNX,
    SavedModel: each timed load then follows a servekit process. In the rows above,
    servekit (ONNX) always runs right after servekit (SavedModel), whose process
    has just run the same code, while the SavedModel's process follows
    onnxruntime's or OpenVINO's: that order alone made the SavedModel's first
    load up to 7x the ONNX one's in a run where back-to-back processes gave 1.2-1.6x.
    None when a load fails or there is no ONNX file."""
    onnx = "model.onnx" if (model_dir / "model.onnx").exists() else "model.folded.onnx"
    if not (model_dir / onnx).exists():
        return None
    times: dict[str, list[float]] = {"saved_model": [], onnx: []}
    for index, name in enumerate([onnx, "saved_model", onnx, onnx, "saved_model"]):
        args = ["--worker", "first-load", "--model-dir", str(model_dir), "--file", name]
        result = subprocess_json(args, workdir / f"first_load.{tag}.{index}.json", 120)
        if "load_ms" not in result:
            return None
        if index > 0:
            times[name].append(result["load_ms"])
    return sum(times["saved_model"]) / sum(times[onnx])


def subprocess_json(args: list[str], out: Path, timeout: float) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(Path(__file__).resolve()), *args, "--out", str(out)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"failed": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0 or not out.exists():
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return {"failed": f"exit code {done.returncode}: {tail}"[:500]}
    return json.loads(out.read_text())


def median_range(values: list[float], fmt: str) -> str:
    if not values:
        return "n/a"
    median = statistics.median(values)
    if len(values) == 1:
        return format(median, fmt)
    return f"{median:{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def ratio_line(what: str, values: list[float], target: str, met) -> str:
    if not values:
        return f"  {what}: n/a (a row is missing from this run)"
    verdict = "met" if met(statistics.median(values)) else "NOT met"
    return f"  {what}: {median_range(values, '.3g')} (target {target}: {verdict})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (each runtime once per round)")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing window per batch size, at most")
    parser.add_argument("--calls", type=int, default=3000, help="timed calls per batch size, at most")
    parser.add_argument("--quick", action="store_true", help="2 rounds, 0.5 s windows")
    parser.add_argument("--only", help=f"comma-separated runtimes out of {','.join(RUNTIMES)}")
    parser.add_argument("--models", help=f"comma-separated models out of {','.join(MODELS)}")
    parser.add_argument("--workdir", type=Path, help="keep the written models here (default: a temporary dir)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # subprocess: "write" or a runtime
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)  # the first-load worker's file in --model-dir
    args = parser.parse_args()

    if args.worker == "write":
        args.out.write_text(json.dumps(write_models(args.model_dir)))
        return
    if args.worker == "first-load":
        import servekit

        _, load_ms = timed(lambda: servekit.load(args.model_dir / args.file))
        args.out.write_text(json.dumps({"load_ms": load_ms}))
        return
    if args.worker:
        args.out.write_text(json.dumps(run_worker(args.worker, args.model_dir, args.calls, args.seconds)))
        return

    if args.quick:
        args.rounds, args.seconds = min(args.rounds, 2), 0.5
    runtimes = args.only.split(",") if args.only else RUNTIMES
    models = args.models.split(",") if args.models else MODELS
    unknown = (set(runtimes) - set(RUNTIMES)) | (set(models) - set(MODELS))
    if unknown:
        parser.error(f"unknown runtime or model: {', '.join(sorted(unknown))}")

    print_header("SavedModel benchmark: load time and predict latency, servekit beside TensorFlow, OpenVINO, ORT")
    print(
        f"rounds {args.rounds}, timing window {args.seconds:g} s or {args.calls} calls per batch size, "
        f"batch sizes {BATCHES}, models {models}, runtimes {runtimes}\n",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        workdir.mkdir(parents=True, exist_ok=True)
        written, write_ms = timed(
            lambda: subprocess_json(["--worker", "write", "--model-dir", str(workdir)], workdir / "write.json", 900)
        )
        if "failed" in written:
            sys.exit(f"writing the models failed: {written['failed']}")
        print(
            f"models written by TensorFlow in {write_ms / 1e3:.1f} s (SavedModel, model.keras, model.onnx, "
            f"TensorFlow's outputs) under {workdir}\n",
            flush=True,
        )

        results: dict[tuple[str, str], list[dict]] = {}  # (model, row label) -> one row per round
        pairs: dict[str, list[dict]] = {}  # model -> servekit-pair's ratios, one per round
        first_loads: dict[str, list[float]] = {}  # model -> first_load_ratio, one per round
        notes: dict[str, str] = {}  # a skip, failure or error, printed once
        versions = dict(written["versions"])
        for round_index in range(args.rounds):
            shift = round_index % len(runtimes)
            order = runtimes[shift:] + runtimes[:shift]
            for model in models:
                for runtime in order:
                    out = workdir / f"{model}.{runtime}.{round_index}.json"
                    worker_args = ["--worker", runtime, "--model-dir", str(workdir / model)]
                    worker_args += ["--calls", str(args.calls), "--seconds", str(args.seconds)]
                    result = subprocess_json(worker_args, out, 600)
                    for kind in ("skipped", "failed"):
                        if kind in result:
                            notes.setdefault(f"{model} / {runtime}", f"{kind}: {result[kind]}")
                    for error in result.get("errors", []):
                        notes.setdefault(f"{model} / {runtime}", f"error: {error}")
                    versions.update(result.get("versions", {}))
                    if "pair" in result:
                        pairs.setdefault(model, []).append(result["pair"])
                    for row in result.get("rows", []):
                        row["import_ms"] = result["import_ms"]
                        results.setdefault((model, row["label"]), []).append({**row, "round": round_index})
                if "servekit-pair" in runtimes:
                    ratio = first_load_ratio(workdir / model, workdir, f"{model}.{round_index}")
                    if ratio is not None:
                        first_loads.setdefault(model, []).append(ratio)
            print(f"  round {round_index + 1}/{args.rounds} done", flush=True)

    print(f"\nversions: {', '.join(f'{k} {v}' for k, v in sorted(versions.items()))}")
    print(f"load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for model in models:
        entry = written["models"][model]
        print(f"{model}: ONNX by {entry.get('onnx_exporter', 'nothing (export failed)')}", end="")
        if "keras_onnx_error" in entry:
            print(f"; Keras's ONNX export failed: {entry['keras_onnx_error']}", end="")
        if "onnx_error" in entry:
            print(f"; tf2onnx failed too: {entry['onnx_error']} (ONNX rows skipped; {INSTALL['tf2onnx']})", end="")
        print()
    print(
        "\nload = first load in a fresh process after the runtime's import (OpenVINO: convert_model + compile_model); "
        "reload = median of later loads of the same files in that process (servekit rows); "
        "p50 = one predict call from Python, numpy in and out; diff = max |output - TensorFlow signature's output|. "
        "Medians over rounds, (min–max) in brackets.\n"
    )
    print("| model | runtime | import ms | load ms | reload ms | p50 µs batch 1 | p50 µs batch 32 | max abs diff |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for model in models:
        for label in ROW_ORDER:
            rows = results.get((model, label))
            if not rows:
                continue
            load = median_range([r["load_ms"] for r in rows], ".1f")
            if label in (OPENVINO, OPENVINO_1, OPENVINO_DEFAULT):
                convert = statistics.median(r["convert_ms"] for r in rows)
                load += f" [convert {convert:.0f} + compile {statistics.median(r['compile_ms'] for r in rows):.0f}]"
            reload = median_range([r["reload_ms"] for r in rows], ".2f") if "reload_ms" in rows[0] else "—"
            print(
                f"| {model} | {label} | {statistics.median(r['import_ms'] for r in rows):.0f} | {load} | {reload} | "
                + " | ".join(median_range([r["p50_us"][str(b)] for r in rows], ".1f") for b in BATCHES)
                + f" | {max(r['max_abs_diff'] for r in rows):.1e} |"
            )
    if notes:
        print("\nSkipped, failed or fell back (first occurrence):")
        for where, note in notes.items():
            print(f"  {where}: {note}")

    def per_round(model: str, a: str, b: str, value) -> list[float]:
        """value(row_a) / value(row_b) for each round that has both rows."""
        rows_b = {r["round"]: r for r in results.get((model, b), [])}
        return [value(r) / value(rows_b[r["round"]]) for r in results.get((model, a), []) if r["round"] in rows_b]

    def p50(batch):
        return lambda r: r["p50_us"][str(batch)]

    def load_ms(r):
        return r["load_ms"]

    def reload_ms(r):
        return r["reload_ms"]

    def servekit_onnx(model: str) -> str:
        """The ONNX row the targets compare with: the file as exported, else the bench's folded copy."""
        return SK_ONNX_FOLDED if (model, SK_ONNX) not in results and (model, SK_ONNX_FOLDED) in results else SK_ONNX

    print("\nIssue 12's targets, ratios within each round (median (min–max) over rounds):")
    for model in models:
        sk_onnx = servekit_onnx(model)
        print(f"{model}:")
        print(
            ratio_line(
                "TensorFlow signature p50 / servekit p50, batch 1",
                per_round(model, TF_SIGNATURE, SK_SAVEDMODEL, p50(1)),
                ">= 10x",
                lambda v: v >= 10,
            )
        )
        paired_rounds = pairs.get(model, [])
        for batch in BATCHES:
            print(
                ratio_line(
                    f"servekit SavedModel p50 / ONNX p50, batch {batch}, calls alternating in one process",
                    [p["p50_ratio"][str(batch)] for p in paired_rounds],
                    "<= 1.10",
                    lambda v: v <= 1.10,
                )
            )
            separate = per_round(model, SK_SAVEDMODEL, sk_onnx, p50(batch))
            print(f"    the same from the rows above (separate processes): {median_range(separate, '.3g')}")
        print(
            ratio_line(
                "warm start: servekit SavedModel load / ONNX load, first load in a fresh process "
                "(processes alternating, each after a servekit process)",
                first_loads.get(model, []),
                "<= 2",
                lambda v: v <= 2,
            )
        )
        separate = per_round(model, SK_SAVEDMODEL, sk_onnx, load_ms)
        print(
            f"    the same from the rows above (one process each, in the rounds' order): "
            f"{median_range(separate, '.3g')}"
        )
        print(
            ratio_line(
                f"  the same for later loads, alternating in one process (medians of {PAIRED_LOADS} each)",
                [p["reload_ratio"] for p in paired_rounds],
                "<= 2",
                lambda v: v <= 2,
            )
        )
        separate = per_round(model, SK_SAVEDMODEL, sk_onnx, reload_ms)
        print(f"    the same from the rows above (separate processes): {median_range(separate, '.3g')}")
        print(
            ratio_line(
                "servekit load / OpenVINO convert + compile",
                per_round(model, SK_SAVEDMODEL, OPENVINO, load_ms),
                "< 1",
                lambda v: v < 1,
            )
        )
    print("\nFor context (no targets):")
    for model in models:
        for what, a, b, value in [
            ("TensorFlow signature p50 / servekit p50, batch 32", TF_SIGNATURE, SK_SAVEDMODEL, p50(32)),
            ("OpenVINO p50 / servekit p50, batch 1", OPENVINO, SK_SAVEDMODEL, p50(1)),
            ("OpenVINO p50 / servekit p50, batch 32", OPENVINO, SK_SAVEDMODEL, p50(32)),
            ("onnxruntime 1 thread p50 / servekit p50, batch 1", ORT_1, SK_SAVEDMODEL, p50(1)),
            ("onnxruntime 1 thread p50 / servekit p50, batch 32", ORT_1, SK_SAVEDMODEL, p50(32)),
        ]:
            values = per_round(model, a, b, value)
            print(f"  {model}: {what}: {median_range(values, '.3g')}")


if __name__ == "__main__":
    main()
