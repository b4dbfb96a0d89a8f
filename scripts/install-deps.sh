#!/usr/bin/env bash
# Installs every system dependency of modelslim from Debian (bookworm). Idempotent.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread libgloo-dev
  libboost-dev libboost-program-options-dev libboost-filesystem-dev
  libyaml-cpp-dev libspdlog-dev libfmt-dev doctest-dev nlohmann-json3-dev
  libsqlite3-dev libxxhash-dev libpcre2-dev bible-kjv sqlite3
  libcpp-httplib-dev curl
)
# Node.js runs the reference tokenizer in tests; use the machine's own when it has one.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
# LibTorch must use OpenBLAS, not the reference BLAS (about 25x slower matmul).
if command -v update-alternatives >/dev/null; then
  for alt in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
    target=$(update-alternatives --list "$alt" 2>/dev/null | grep openblas-pthread | head -n1 || true)
    [ -n "$target" ] && ${SUDO:-} update-alternatives --set "$alt" "$target" >/dev/null || true
  done
fi
echo "modelslim dependencies installed"
