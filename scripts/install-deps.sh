#!/usr/bin/env bash
# Installs every Debian package slt needs to build, test and run (Debian 12).
#   scripts/install-deps.sh            build + test + run dependencies
#   scripts/install-deps.sh --torch    also PyTorch, h5py, xxhash and yaml for Python: the reference
#                                      generators, baselines and the interop test (scripts/test.sh)
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libopenblas-openmp-dev   # BLAS built for OpenMP: shares our thread pool
  libhdf5-dev              # checkpoints
  libxxhash-dev            # checkpoint tensor checksums
  libdnnl-dev              # oneDNN GEMM backend: fp32, and bf16 on AVX512-BF16 / AMX
  libcunit1-dev            # unit tests
  libyaml-dev              # configs
  libpcre2-dev             # GPT-2 pre-tokenisation
  libopenmpi-dev openmpi-bin  # data parallelism (optional at build time)
  libsnappy-dev libzstd-dev zlib1g-dev  # parquet codecs
  clang                    # fuzz harnesses (libFuzzer)
  gnuplot-nox              # experiment plots
  nodejs                   # tests/gguf_llama.sh: llama.cpp prebuilt from the node-llama-cpp package
  libgsl-dev               # slt fit: BFGS minimiser of the scaling-law fits
)
if [[ "${1:-}" == "--torch" ]]; then
  packages+=(python3-torch python3-h5py python3-numpy python3-xxhash python3-yaml)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian's nodejs comes without npm (package npm); nodesource's nodejs bundles it and conflicts.
command -v npm > /dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
