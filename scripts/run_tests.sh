#!/usr/bin/env bash
# Runs every test: the C++ kernel tests (GoogleTest, through ctest) and the Python tests (pytest)
# against the installed grebe package. Installs GoogleTest from Debian when it is missing.
# Usage: bash scripts/run_tests.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -f /usr/include/gtest/gtest.h ]; then
  echo "== installing GoogleTest (Debian libgtest-dev) =="
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libgtest-dev > /dev/null
fi
echo "== C++ kernel tests =="
GEN=""; command -v ninja > /dev/null && GEN="-G Ninja"
cmake -S . -B build/cpp-tests $GEN -DCMAKE_BUILD_TYPE=Release -DGREBE_BUILD_TESTS=ON \
      -DGREBE_BUILD_MODULE=OFF > /dev/null
cmake --build build/cpp-tests -j"$(nproc)"
ctest --test-dir build/cpp-tests --output-on-failure -j"$(nproc)"
echo "== Python tests =="
# GREBE_NO_SKIP=1 turns any skipped test into a failure (see tests/python/conftest.py).
# Run outside the source tree's python/ folder so `import grebe` finds the installed package.
GREBE_NO_SKIP=1 python -m pytest "$PWD/tests/python" "$PWD/tests/keras_io" -q -p no:cacheprovider \
    --rootdir "$PWD" "$@"
