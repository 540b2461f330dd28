#!/usr/bin/env bash
# Runs every test: the C++ kernel tests (GoogleTest, through ctest) and the Python tests (pytest)
# against the installed grebe package. Usage: bash scripts/run_tests.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== C++ kernel tests =="
cmake -S . -B build/cpp-tests -G Ninja -DCMAKE_BUILD_TYPE=Release -DGREBE_BUILD_TESTS=ON \
      -DGREBE_BUILD_MODULE=OFF > /dev/null
cmake --build build/cpp-tests -j"$(nproc)"
ctest --test-dir build/cpp-tests --output-on-failure -j"$(nproc)"
echo "== Python tests =="
# Run from a folder outside the source tree so `import grebe` finds the installed package.
python -m pytest "$PWD/tests/python" -q -p no:cacheprovider --rootdir "$PWD" "$@"
