"""servekit-server as a process: flags, graceful SIGTERM drain, and version
swaps under REST load."""

from __future__ import annotations

import base64
import contextlib
import re
import socket
import subprocess
import threading
import time

import numpy as np
import pytest
import requests

import servekit
from rest_testing import half_plus, long_running_model, save, slow_model
from server_process import SERVER, ServerProcess


def run_cli(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SERVER, *flags], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_version_and_usage_errors_exit_2(tmp_path):
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"servekit-server {servekit.__version__}"
    cases = [
        (["--model_base_path", str(tmp_path / "missing")], "is not a directory"),
        (["--model_config_file", str(tmp_path / "missing.config")], "is not a file"),
        ([], "nothing to serve"),
        (["--model_base_path", str(tmp_path), "--enable_batching"], "batching is not supported yet"),
        (["--model_base_path", str(tmp_path), "--batching_parameters_file=x"], "batching is not supported yet"),
        (["--model_base_path", str(tmp_path), "--rest_api_port=70000"], "rest_api_port"),
        (["--model_base_path", str(tmp_path), "--rest_api_timeout_in_ms=0"], "rest_api_timeout_in_ms"),
        (["--model_base_path", str(tmp_path), "--grpc_max_threads=0"], "--grpc_max_threads must be positive"),
        (["--model_base_path", str(tmp_path), "--rest_api_num_threads=-1"], "--rest_api_num_threads must be positive"),
        (["--model_base_path", str(tmp_path), "--drain_timeout_seconds=inf"], "drain_timeout_seconds must be a finite"),
        (["--model_base_path", str(tmp_path), "--drain_timeout_seconds=nan"], "drain_timeout_seconds must be a finite"),
        (["--model_base_path", str(tmp_path), "--drain_timeout_seconds=-1"], "must not be negative"),
        (["--model_base_path", str(tmp_path), "--file_system_poll_wait_seconds=inf"], "must be a finite"),
        (["--model_base_path", str(tmp_path), "--grpc_max_message_bytes=3000000000"], "grpc_max_message_bytes must be"),
        (["--model_base_path", str(tmp_path), "--max_request_bytes=99999999999"], "max_request_bytes must be in"),
        (["--model_base_path", str(tmp_path), "--max_connections=-1"], "max_connections must be in [0,"),
        (["--model_base_path", str(tmp_path), "--idle_timeout_seconds=0"], "idle timeout must be positive"),
        (["--no_such_flag"], "unrecognized arguments"),
        (["--rest_api_port=abc"], "invalid int value"),
    ]
    for flags, message in cases:
        result = run_cli(*flags)
        assert result.returncode == 2, (flags, result.stderr)
        assert message in result.stderr, (flags, result.stderr)
    bad_config = tmp_path / "bad.config"
    bad_config.write_text("model_config_list { config { name: 'x' ")
    result = run_cli(f"--model_config_file={bad_config}")
    assert result.returncode == 2 and "invalid model server config" in result.stderr


def test_a_port_in_use_is_a_clear_error(tmp_path):
    save(half_plus(2.0), tmp_path / "m", 1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(
            f"--model_base_path={tmp_path / 'm'}", f"--rest_api_port={port}", "--port=0", "--bind_address=127.0.0.1"
        )
    assert result.returncode == 2 and "cannot bind" in result.stderr


def test_monitoring_config_file_moves_or_disables_prometheus(tmp_path):
    save(half_plus(2.0), tmp_path / "m", 1)
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true path: "/metrics" }')
    server = ServerProcess(f"--model_base_path={tmp_path / 'm'}", f"--monitoring_config_file={monitoring}")
    try:
        assert "servekit_model_loads_total" in requests.get(f"{server.url}/metrics", timeout=10).text
        assert requests.get(f"{server.url}/monitoring/prometheus/metrics", timeout=10).status_code == 404
    finally:
        assert server.stop() == 0
    monitoring.write_text("prometheus_config { enable: tru }")
    assert run_cli(f"--model_base_path={tmp_path / 'm'}", f"--monitoring_config_file={monitoring}").returncode == 2


def test_sigterm_answers_every_request_in_flight_then_exits_0(tmp_path):
    save(slow_model(), tmp_path / "slow", 1)
    server = ServerProcess(f"--model_base_path={tmp_path / 'slow'}", "--model_name=slow", "--rest_api_num_threads=8")
    url = f"{server.url}/v1/models/slow:predict"
    body = {"instances": np.ones((16, 1024), np.float32).tolist()}
    requests.post(url, json={"instances": [[0.0] * 1024]}, timeout=60).raise_for_status()  # warm
    results, started = [], threading.Barrier(9)

    def client():
        started.wait()
        try:
            results.append(requests.post(url, json=body, timeout=120).status_code)
        except requests.RequestException as e:  # pragma: no cover - reported by the assertion below
            results.append(repr(e))

    clients = [threading.Thread(target=client) for _ in range(8)]
    for c in clients:
        c.start()
    started.wait()
    time.sleep(0.3)  # the requests are sent and running
    server.terminate()
    for c in clients:
        c.join(timeout=120)
    assert server.stop() == 0
    assert results == [200] * 8
    assert any("draining" in line for line in server.log) and "stopped\n" in server.log[-1]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{server.url}/v2/health/live", timeout=2)


def test_drain_timeout_bounds_shutdown_even_with_a_model_still_running(tmp_path):
    """--drain_timeout_seconds is an upper bound on SIGTERM-to-exit: a request
    that runs for many seconds (a long chain of large MatMuls on a big batch)
    does not hold the process past it."""
    save(long_running_model(), tmp_path / "slow", 1)
    server = ServerProcess(f"--model_base_path={tmp_path / 'slow'}", "--model_name=slow", "--drain_timeout_seconds=1")
    url = f"{server.url}/v1/models/slow:predict"
    requests.post(url, json={"instances": [[0.0] * 2048]}, timeout=60).raise_for_status()  # warm
    rows = np.ones((512, 2048), np.float32)  # ~1.7 TFLOP: well over ten seconds here
    body = {"inputs": {"b64": base64.b64encode(rows.tobytes()).decode()}}

    def client():
        with contextlib.suppress(requests.RequestException):  # the server exits under it
            requests.post(url, json=body, timeout=120)

    client = threading.Thread(target=client, daemon=True)
    client.start()
    time.sleep(1.0)  # the request has arrived and the model is running
    started = time.monotonic()
    server.terminate()
    code = server.stop(timeout=60)
    took = time.monotonic() - started
    assert code == 0
    assert took < 1 + 2 + 2, f"exit took {took:.1f} s after SIGTERM"  # drain timeout + exit grace + slack
    assert any("exiting without waiting" in line for line in server.log), "".join(server.log)


def test_versions_swap_under_rest_load_without_a_failed_request(tmp_path):
    base = tmp_path / "m"
    save(half_plus(1.0), base, 1)
    published = {1}
    server = ServerProcess(
        f"--model_base_path={base}",
        "--model_name=m",
        "--file_system_poll_wait_seconds=0.02",
        "--rest_api_num_threads=4",
    )
    url = f"{server.url}/v1/models/m:predict"
    failures, answers, stop = [], [], threading.Event()

    def client():
        with requests.Session() as session:
            while not stop.is_set():
                response = session.post(url, data='{"instances": [0.0]}', timeout=30)
                if response.status_code != 200:
                    failures.append(response.text)
                else:
                    answers.append(response.json()["predictions"][0])

    clients = [threading.Thread(target=client) for _ in range(8)]
    for c in clients:
        c.start()
    try:
        for version in range(2, 22):
            save(half_plus(float(version)), base, version)
            published.add(version)
            if version > 3:
                for old in (base / str(version - 3)).iterdir():
                    old.unlink()
                (base / str(version - 3)).rmdir()
            time.sleep(0.05)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not answers or answers[-1] != 21.0):
            time.sleep(0.05)
    finally:
        stop.set()
        for c in clients:
            c.join(timeout=60)
        assert server.stop() == 0
    assert failures == []
    assert len(answers) > 100
    assert set(answers) <= {float(v) for v in published}
    assert answers[-1] == 21.0
    assert len(set(answers)) > 3  # versions really changed under load


def test_bad_option_values_from_python_are_value_errors(tmp_path):
    save(half_plus(2.0), tmp_path / "m", 1)
    for options, message in (
        ({"grpc_max_message_bytes": -1}, "grpc_max_message_bytes must be in [1, 2147483647]; got -1"),
        ({"grpc_max_message_bytes": 1 << 40}, "grpc_max_message_bytes must be in"),
        ({"drain_timeout_seconds": float("inf")}, "drain_timeout_seconds must be a finite number"),
        ({"drain_timeout_seconds": float("nan")}, "drain_timeout_seconds must be a finite number"),
        ({"idle_timeout_seconds": -1.0}, "idle_timeout_seconds must be a finite number"),
        ({"max_connections": -5}, "max_connections must be in"),
        ({"intra_op_threads": 1 << 33}, "intra_op_threads must be in"),
    ):
        server = servekit.ModelServer(model_name="m", model_base_path=tmp_path / "m", rest_api_port=0, **options)
        with pytest.raises(ValueError, match=re.escape(message)):
            server.start()


def test_unknown_options_are_type_errors_at_once(tmp_path):
    save(half_plus(2.0), tmp_path / "m", 1)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['rest_port'\]"):
        servekit.ModelServer(model_name="m", model_base_path=tmp_path / "m", rest_port=0)
    with pytest.raises(TypeError, match=r"\['grpc_port'\]"):  # a server option, not the core's
        servekit.ServingCore(model_name="m", model_base_path=tmp_path / "m", grpc_port=0)
