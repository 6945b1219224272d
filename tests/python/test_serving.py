"""servekit.ServingCore: versioned models served from directories, from Python."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import servekit
from servekit import layers


def versioned_model(version: int) -> servekit.Sequential:
    """y = version for any input: outputs tell which version answered."""
    model = servekit.Sequential([servekit.Input((3,), name="x"), layers.Dense(1, name="y")])
    model.set_weights([np.zeros((3, 1), np.float32), np.full((1,), version, np.float32)])
    return model


def answer(core: servekit.ServingCore, name="m", **selector) -> float:
    return float(core.predict(name, np.ones((1, 3), np.float32), **selector)[0, 0])


@pytest.fixture
def base(tmp_path):
    versioned_model(1).save(tmp_path / "m" / "1")
    return tmp_path / "m"


def fast_core(**kwargs) -> servekit.ServingCore:
    options = dict(file_system_poll_wait_seconds=0.02, load_retry_interval_micros=10_000, max_num_load_retries=3)
    options.update(kwargs)
    return servekit.ServingCore(**options)


def test_publishing_a_version_directory_swaps_to_it(base):
    with fast_core(model_name="m", model_base_path=base) as core:
        assert answer(core) == 1
        versioned_model(2).save(base / "2")
        core.wait_until_available("m", 2, timeout=10)
        assert answer(core) == 2
        states = {s.version: s.state for s in core.status("m")}
        assert states[2] == "AVAILABLE"
        assert [e.state for e in core.events() if e.version == 1][:3] == ["START", "LOADING", "AVAILABLE"]


def test_versions_and_labels_from_a_text_config(base):
    versioned_model(2).save(base / "2")
    config = f"""
    model_config_list {{
      config {{
        name: "m"
        base_path: "{base}"
        model_platform: "onnx"
        model_version_policy {{ all {{}} }}
        version_labels {{ key: "stable" value: 1 }}
        version_labels {{ key: "canary" value: 2 }}
      }}
    }}"""
    with fast_core(config=config) as core:
        assert answer(core) == 2
        assert answer(core, version=1) == 1
        assert answer(core, label="stable") == 1
        assert answer(core, label="canary") == 2
        core.set_label("m", "stable", 2)
        assert answer(core, label="stable") == 2
        with pytest.raises(servekit.NotFoundError, match="Unrecognized servable version label: beta"):
            answer(core, label="beta")
        with pytest.raises(servekit.Error, match="not available"):
            core.set_label("m", "next", 9)
        assert core.signature("m").input_names == ["x"]


def test_reload_add_and_remove_models_at_runtime(tmp_path, base):
    versioned_model(7).save(tmp_path / "other" / "7")
    with fast_core(config=[{"name": "m", "base_path": base}]) as core:
        core.add_model("other", tmp_path / "other")
        assert answer(core, "other") == 7
        with pytest.raises(servekit.Error, match="already configured"):
            core.add_model("other", tmp_path / "other")
        core.remove_model("m")
        assert core.models == ["other"]
        with pytest.raises(servekit.NotFoundError):
            for _ in range(500):  # unloads finish once in-flight requests do
                answer(core, "m")
        core.reload_config([{"name": "m", "base_path": base, "model_version_policy": {"latest": {"num_versions": 1}}}])
        assert core.models == ["m"]
        assert answer(core) == 1


def test_a_corrupt_version_next_to_a_good_one(base):
    (base / "2").mkdir()
    (base / "2" / "model.onnx").write_bytes(b"\x08\x01garbage that is not a model")
    with fast_core(config=[{"name": "m", "base_path": base, "model_version_policy": "all"}]) as core:
        with pytest.raises(servekit.InvalidArgumentError, match="model.onnx"):
            core.wait_until_available("m", 2, timeout=10)
        statuses = {s.version: s for s in core.status("m")}
        assert statuses[1].state == "AVAILABLE"
        assert statuses[2].state == "END" and statuses[2].error_code == "INVALID_ARGUMENT"
        assert answer(core) == 1


def test_bad_requests_are_clear_errors_and_the_core_keeps_serving(base):
    with fast_core(model_name="m", model_base_path=base) as core:
        with pytest.raises(servekit.NotFoundError, match=r"Latest\(nope\)"):
            core.predict("nope", np.ones((1, 3), np.float32))
        with pytest.raises(ValueError, match="expects shape"):
            core.predict("m", np.ones((1, 4), np.float32))
        with pytest.raises(servekit.NotFoundError, match=r"Specific\(m, 5\)"):
            answer(core, version=5)
        with pytest.raises(ValueError, match="version policy"):
            core.add_model("x", base, version_policy="newest")
        assert answer(core) == 1


def test_swaps_under_concurrent_python_requests(base):
    failures, answers = [], []
    stop = threading.Event()
    with fast_core(model_name="m", model_base_path=base) as core:

        def client():
            seen = []
            while not stop.is_set():
                try:
                    seen.append(answer(core))
                except Exception as error:  # noqa: BLE001 - any failure is the finding
                    failures.append(error)
            answers.append(seen)

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for version in range(2, 12):
            versioned_model(version).save(base / str(version))
            core.wait_until_available("m", version, timeout=10)
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    for seen in answers:
        assert seen, "a client thread made no request"
        assert set(seen) <= set(range(1, 12))
        assert seen == sorted(seen), "a client saw an older version after a newer one"


def test_save_publishes_a_version_directory_whole(tmp_path):
    path = versioned_model(1).save(tmp_path / "m" / "1")
    assert path == tmp_path / "m" / "1" / "model.onnx"
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1"], "no staging directory may be left behind"
    assert sorted(p.name for p in (tmp_path / "m" / "1").iterdir()) == ["model.onnx"]
    versioned_model(5).save(tmp_path / "m" / "1")  # an existing directory: the file is replaced atomically
    assert float(servekit.load(tmp_path / "m" / "1").predict(np.ones((1, 3), np.float32))[0, 0]) == 5


def test_metrics_count_loads_and_requests(base):
    with fast_core(model_name="m", model_base_path=base) as core:
        for _ in range(3):
            answer(core)
        with pytest.raises(servekit.NotFoundError):
            answer(core, version=9)
        metrics = core.metrics()
    counters = {(name, tuple(sorted(labels.items()))): value for name, labels, value in metrics["counters"]}
    ok = ("servekit_requests_total", (("api", "python"), ("model", "m"), ("status", "OK"), ("version", "1")))
    not_found_labels = (("api", "python"), ("model", "m"), ("status", "NOT_FOUND"), ("version", ""))
    not_found = ("servekit_requests_total", not_found_labels)
    assert counters[ok] == 3
    assert counters[not_found] == 1
    assert counters[("servekit_model_loads_total", (("model", "m"), ("version", "1")))] == 1
    latency = [
        h for h in metrics["histograms"] if h[0] == "servekit_request_latency_seconds" and h[1]["status"] == "OK"
    ]
    assert latency and latency[0][3] == 3 and latency[0][2][-1][1] <= 3


def test_load_and_unload_one_version_explicitly(base):
    versioned_model(2).save(base / "2")
    versioned_model(3).save(base / "3")
    with fast_core(model_name="m", model_base_path=base) as core:
        assert answer(core) == 3
        core.load_version("m", 1)  # beside the latest, which the policy alone would not do
        assert answer(core, version=1) == 1 and answer(core) == 3
        core.unload_version("m", 3)
        for _ in range(500):
            if answer(core) == 1:
                break
        assert answer(core) == 1
        with pytest.raises(servekit.NotFoundError):
            answer(core, version=3)
        # Polling keeps both choices.
        versioned_model(4).save(base / "4")
        core.wait_until_available("m", 4, timeout=10)
        assert answer(core, version=1) == 1
        assert 3 not in {s.version for s in core.status("m") if s.state == "AVAILABLE"}
        with pytest.raises(servekit.NotFoundError, match="no version directory"):
            core.load_version("m", 9)
        core.set_label("m", "stable", 1)
        with pytest.raises(servekit.FailedPreconditionError, match="labelled 'stable'"):
            core.unload_version("m", 1)
        assert answer(core, label="stable") == 1


def test_load_version_retries_a_version_fixed_after_failing(base):
    (base / "2").mkdir()
    (base / "2" / "model.onnx").write_bytes(b"half a file")
    config = [{"name": "m", "base_path": base, "model_version_policy": "all"}]
    with fast_core(config=config, max_num_load_retries=0) as core:
        with pytest.raises(servekit.InvalidArgumentError):
            core.wait_until_available("m", 2, timeout=10)
        assert answer(core) == 1
        versioned_model(2).save(base / "2.tmp")
        (base / "2" / "model.onnx").write_bytes((base / "2.tmp" / "model.onnx").read_bytes())
        core.load_version("m", 2)
        assert answer(core) == 2


def test_a_config_file_is_polled_and_a_bad_edit_keeps_the_running_config(tmp_path, base):
    versioned_model(5).save(tmp_path / "other" / "5")
    config_file = tmp_path / "models.config"

    def write_config(text: str) -> None:
        (tmp_path / "models.config.tmp").write_text(text)
        (tmp_path / "models.config.tmp").replace(config_file)

    def entry(name, path):
        return f'config {{ name: "{name}" base_path: "{path}" }}'

    write_config(f"model_config_list {{ {entry('m', base)} }}")
    with fast_core(config=config_file, model_config_file_poll_wait_seconds=0.02) as core:
        assert core.models == ["m"] and answer(core) == 1
        assert core.config_file_status() == ("OK", "")
        write_config(f"model_config_list {{ {entry('m', base)} {entry('other', tmp_path / 'other')} }}")
        core.wait_until_available("other", timeout=10)
        assert answer(core, "other") == 5
        write_config("model_config_list { config { name: ")  # a bad edit
        for _ in range(500):
            if core.config_file_status()[0] != "OK":
                break
            threading.Event().wait(0.01)
        code, message = core.config_file_status()
        assert code == "INVALID_ARGUMENT" and "models.config" in message
        assert core.models == ["m", "other"] and answer(core, "other") == 5
    with pytest.raises(ValueError, match="config file path"):
        servekit.ServingCore(config=[{"name": "m", "base_path": base}], model_config_file_poll_wait_seconds=1)


def test_unload_version_lets_other_python_threads_run_while_it_waits(base, tmp_path):
    """unload_version waits for a config change in progress (here: add_model
    of a corrupt version, retried for about a second). Holding the GIL while
    it waits froze every other Python thread for that long."""
    (tmp_path / "broken" / "1").mkdir(parents=True)
    (tmp_path / "broken" / "1" / "model.onnx").write_bytes(b"not a model")
    with fast_core(
        model_name="m", model_base_path=base, load_retry_interval_micros=500_000, max_num_load_retries=2
    ) as core:
        adding = threading.Thread(target=lambda: core.add_model("broken", tmp_path / "broken"))
        adding.start()
        time.sleep(0.1)  # add_model holds the config change, waiting for its retries
        errors = []

        def unload():
            try:
                core.unload_version("m", 5)  # no version 5: refused, but only once the change is done
            except servekit.Error as e:
                errors.append(e)

        unloader = threading.Thread(target=unload)
        # This thread keeps running Python while unload_version waits: the
        # longest pause between two turns of this loop (the first one spans
        # the start of the other thread) is a thread switch.
        last = time.monotonic()
        end, longest_pause = last + 0.5, 0.0
        unloader.start()
        while last < end:
            now = time.monotonic()
            longest_pause, last = max(longest_pause, now - last), now
        unloader.join(timeout=30)
        adding.join(timeout=30)
    assert len(errors) == 1
    assert longest_pause < 0.25, f"Python stood still for {longest_pause:.2f} s while unload_version waited"
