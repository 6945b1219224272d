#!/usr/bin/env bash
# The sanitizer build: the GoogleTest suite and servekit._core compiled with
# AddressSanitizer and UndefinedBehaviorSanitizer (every finding fatal) in
# build/sanitize, then
#   - every gtest through ctest;
#   - the pytest files that send bad inputs, hostile clients and files to the
#     engine and the servers, against the sanitized extension (loaded into an
#     uninstrumented Python with the ASan runtime preloaded; servers started by
#     the tests as subprocesses inherit it).
# Run by `make test` after the release tests (scripts/setup.sh --dev first).
# Built for the baseline x86-64 ISA: GCC 12 reports its own AVX-512 intrinsics
# as uninitialized (-Werror) at -O1, and the kernels' logic is the same.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
BUILD=build/sanitize
JOBS=${JOBS:-2}

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g1 -DNDEBUG" \
  -DSERVEKIT_SANITIZE=ON -DSERVEKIT_BUILD_TESTS=ON -DSERVEKIT_BUILD_PYTHON_MODULE=ON -DSERVEKIT_NATIVE_ARCH=OFF \
  -Dpybind11_DIR="$("$PYTHON" -m pybind11 --cmakedir)" -DPython_EXECUTABLE="$(command -v "$PYTHON")" >/dev/null
ninja -C "$BUILD" -j "$JOBS"

# Huge requests must fail like a real malloc (bad_alloc / null), not abort;
# Python itself is not instrumented and "leaks" by design.
# Allocations over 3 GiB fail as they would under the address-space caps some
# tests set (ASan's shadow memory rules those caps out: SERVEKIT_SANITIZED).
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1:abort_on_error=1:max_allocation_size_mb=3072
export SERVEKIT_SANITIZED=1
export UBSAN_OPTIONS=print_stacktrace=1
ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS"

# A package dir with the sanitized extension beside the pure-Python sources.
rm -rf "$BUILD/pkg" && mkdir -p "$BUILD/pkg"
cp -r python/servekit "$BUILD/pkg/"
find "$BUILD/pkg/servekit" -name '_core*.so' -delete
cp "$BUILD"/_core*.so "$BUILD/pkg/servekit/"
export PYTHONPATH="$PWD/$BUILD/pkg${PYTHONPATH:+:$PYTHONPATH}"
# The ASan runtime first; libstdc++ too, or ASan cannot find the real
# __cxa_throw when an uninstrumented Python loads the extension.
export LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libstdc++.so)"
"$PYTHON" -c 'import servekit, servekit._core as c; assert "build/sanitize" in c.__file__, c.__file__'
"$PYTHON" -m pytest -q -p no:cacheprovider tests/python/test_bad_inputs.py tests/python/test_rest_server.py \
  tests/python/test_server_lifecycle.py
# servekit.gunicorn's workers run the sanitized extension too (PYTHONPATH and LD_PRELOAD are inherited).
"$PYTHON" -m pytest -q -p no:cacheprovider tests/python/test_flask.py -k "servekit_worker or native_worker"
"$PYTHON" -m pytest -q -p no:cacheprovider tests/grpc_client
