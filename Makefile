# The two commands a new user runs (see README):
#   make serve   build servekit and run the demo model
#   make test    build servekit with its tests and run every test (C++ and Python)
PYTHON ?= python3
BUILD_DIR := build/skbuild
# -v so that the build's progress can be shown; build_with_progress.py prints a
# summary line every 10% and keeps the full output in build/pip-install.log.
PIP_INSTALL := $(PYTHON) scripts/build_with_progress.py $(PYTHON) -m pip install -v --disable-pip-version-check --no-build-isolation

.PHONY: serve test install install-tests setup setup-dev bench fuzz lint

setup:
	scripts/setup.sh

setup-dev:
	scripts/setup.sh --dev

install: setup
	$(PIP_INSTALL) .

# Same build directory as `install`, with the GoogleTest targets switched on.
install-tests: setup-dev
	$(PIP_INSTALL) --config-settings=cmake.define.SERVEKIT_BUILD_TESTS=ON .

serve: install
	$(PYTHON) examples/demo.py

test: install-tests
	$(MAKE) --no-print-directory lint
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j 2
	# The kernels again with oneDNN held to AVX2 (the project machine, Zen 3, has no AVX-512).
	ONEDNN_MAX_CPU_ISA=AVX2 ctest --test-dir $(BUILD_DIR) --output-on-failure -j 2 \
	  -R '^(conv|gemm|pool|optimizer|session)_test$$'
	$(PYTHON) -m pytest -q
	$(PYTHON) -m pytest -q tests/grpc_client  # its own process: tensorflow (the gRPC client) and onnxruntime cannot share one
	$(PYTHON) -m pytest -q tests/savedmodel  # its own process too: TensorFlow writes the SavedModel fixtures
	scripts/sanitize.sh  # ASan + UBSan: the gtests, then the bad-input and server tests against a sanitized extension
	FUZZ_SEED=1 $(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30  # every fuzzer, 30 s each on its seed corpus

# Style, enforced by the test command: .clang-format (Google, 100 columns) on every
# C++ file in git, ruff's lint rules and formatter on the Python (pyproject.toml).
CLANG_FORMAT ?= clang-format-14
lint: setup-dev
	git ls-files '*.cc' '*.h' | xargs $(CLANG_FORMAT) --dry-run --Werror
	$(PYTHON) -m ruff check --quiet .
	$(PYTHON) -m ruff format --check --quiet .

# Benchmarks print tables; they never assert on timings.
bench: setup-dev
	$(PIP_INSTALL) --config-settings=cmake.define.SERVEKIT_BUILD_TESTS=ON \
	  --config-settings=cmake.define.SERVEKIT_BUILD_BENCHMARKS=ON .
	$(BUILD_DIR)/gemm_bench --benchmark_counters_tabular=true
	$(BUILD_DIR)/json_bench
	$(PYTHON) bench/engine_bench.py
	$(PYTHON) bench/serving_bench.py
	$(PYTHON) bench/rest_bench.py
	$(PYTHON) bench/grpc_bench.py

# libFuzzer targets (tests/fuzz/) in their own clang build with ASan + UBSan,
# each run for FUZZ_SECONDS on a scratch copy of its seed corpus; fails if any
# fuzzer finds a crash, a sanitizer report, a timeout or an out-of-memory.
FUZZ_SECONDS ?= 60
FUZZ_BUILD_DIR := build/fuzz
FUZZ_BUILD_JOBS ?= 2
fuzz: setup-dev
	cmake -S . -B $(FUZZ_BUILD_DIR) -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSERVEKIT_BUILD_FUZZERS=ON
	cmake --build $(FUZZ_BUILD_DIR) -j $(FUZZ_BUILD_JOBS)
	scripts/run_fuzzers.sh $(FUZZ_BUILD_DIR) $(FUZZ_SECONDS)
