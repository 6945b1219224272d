#!/usr/bin/env bash
# Installs everything servekit needs to build, test and benchmark on Debian 12
# (root, no prompts). Idempotent: packages already present are not touched.
#   scripts/setup.sh          build + run dependencies
#   scripts/setup.sh --dev    also the test and benchmark tools
set -euo pipefail

PYTHON=${PYTHON:-python3}
export DEBIAN_FRONTEND=noninteractive

APT_PACKAGES=(
  build-essential ccache ninja-build pkg-config
  libeigen3-dev                       # kernels
  libprotobuf-dev protobuf-compiler   # ONNX model files
  libabsl-dev                         # Status, containers
  libopenblas-dev                     # sgemm peer for bench/ (and the GEMM if it wins)
  libdnnl-dev                         # oneDNN 2.6: the convolutions (kernels/onednn/)
  libboost1.81-dev                    # Boost.Beast/Asio: the REST server
  rapidjson-dev                       # JSON requests and responses
  libsimdjson-dev                     # the REST predict fast path (one numeric tensor)
  libnghttp2-dev zlib1g-dev           # HTTP/2 and compressed messages: the gRPC server
)
# wrk, h2load (nghttp2-client), grpc++ (bench/grpc_load.cc): the benchmarks' load generators.
# clang-14 with libFuzzer and its sanitizer runtimes (libclang-rt-14-dev): `make fuzz`; clang-format-14: `make lint`.
APT_DEV_PACKAGES=(libgtest-dev libgmock-dev libbenchmark-dev wrk nghttp2-client libgrpc++-dev protobuf-compiler-grpc
                  clang-14 libfuzzer-14-dev libclang-rt-14-dev clang-format-14)
PIP_PACKAGES=(numpy "scikit-build-core>=0.10" "pybind11>=2.12" scikit-learn)  # scikit-learn: the demo's digits data
# flask, gunicorn, and fastapi + uvicorn with uvloop, httptools and orjson (with
# onnxruntime): the REST benchmark's Python baselines; tensorflow-serving-api (with
# tensorflow and grpcio): the official gRPC client the gRPC tests prove against (and
# bench/grpc_bench.py's request writer when grpc_load is not built); ruff: the linter;
# tf-keras (Keras 2 on that tensorflow): the SavedModel tests' fixtures saved the old way.
# openvino and tf2onnx: bench/savedmodel_bench.py only (OpenVINO reading the SavedModels;
# Keras's ONNX export calls tf2onnx). Checked with `pip install --dry-run`: neither changes
# the installed numpy, protobuf, tensorflow, keras, onnx or onnxruntime.
# nbclient, nbformat, ipykernel and matplotlib run notebooks/ in the tests (their
# plots); skl2onnx is notebook 2's second exporter (also checked with --dry-run).
PIP_DEV_PACKAGES=(pytest onnx onnxruntime requests flask gunicorn tensorflow-serving-api grpcio-health-checking grpcio-reflection
                  fastapi uvicorn uvloop httptools orjson "ruff==0.17.6" tf-keras openvino tf2onnx
                  nbclient nbformat ipykernel matplotlib skl2onnx)

apt_list=("${APT_PACKAGES[@]}")
pip_list=("${PIP_PACKAGES[@]}")
if [[ "${1:-}" == "--dev" ]]; then
  apt_list+=("${APT_DEV_PACKAGES[@]}")
  pip_list+=("${PIP_DEV_PACKAGES[@]}")
fi

missing=()
for pkg in "${apt_list[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# pip is itself idempotent; -q keeps the satisfied case to one quiet pass.
"$PYTHON" -m pip install -q --disable-pip-version-check "${pip_list[@]}"
