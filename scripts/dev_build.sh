#!/usr/bin/env bash
# Incremental in-tree build for development: compiles grebe._C and the C++ tests into build/dev
# and copies the extension next to the Python sources, so `PYTHONPATH=python` imports it.
# Builds are serialized with a lock: several people (or agents) may share one tree.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/grebe-build.lock
flock 9
if [ ! -f build/dev/build.ninja ]; then
  cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DGREBE_BUILD_TESTS=ON \
        -Dpybind11_DIR="$(python -m pybind11 --cmakedir)" > /dev/null
fi
cmake --build build/dev -j2 "$@"
# Copy aside, then rename: overwriting the loaded .so in place crashes running processes.
for so in build/dev/_C*.so; do
  cp "$so" "python/grebe/.$(basename "$so").tmp"
  mv -f "python/grebe/.$(basename "$so").tmp" "python/grebe/$(basename "$so")"
done
