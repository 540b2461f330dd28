#!/usr/bin/env bash
# Runs every test: the C++ kernel tests (GoogleTest, through ctest) and the Python tests (pytest)
# against the installed grebe package. Installs GoogleTest and Open MPI from Debian when missing.
# Usage: bash scripts/run_tests.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
# From Debian when missing: GoogleTest, and Open MPI (mpirun + libmpi, which the mpi4py wheel
# loads) with iproute2 (ip netns) for tests/python/test_distribution*.py.
APT=""
[ -f /usr/include/gtest/gtest.h ] || APT="$APT libgtest-dev"
command -v mpirun > /dev/null || APT="$APT openmpi-bin libopenmpi-dev"
command -v ip > /dev/null || APT="$APT iproute2"
if [ -n "$APT" ]; then
  echo "== installing from Debian:$APT =="
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $APT > /dev/null
fi
echo "== C++ kernel tests =="
GEN=""; command -v ninja > /dev/null && GEN="-G Ninja"
cmake -S . -B build/cpp-tests $GEN -DCMAKE_BUILD_TYPE=Release -DGREBE_BUILD_TESTS=ON \
      -DGREBE_BUILD_MODULE=OFF > /dev/null
cmake --build build/cpp-tests -j"$(nproc)"
# Every ISA this CPU runs, best first: the kernels dispatch on the best one unless GREBE_ISA
# lowers it, so the suites run once per ISA to test every variant's reference, thread-count and
# NaN checks (each run adds about 15 s of C++ and 10 s of Python tests).
FLAGS=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
has() { for f in "$@"; do [[ " $FLAGS " == *" $f "* ]] || return 1; done; }
ISAS=""
has avx512f avx512dq avx512bw avx512vl && ISAS="avx512"
has avx2 fma && ISAS="$ISAS avx2"
ISAS="$ISAS generic"
echo "ISAs this CPU runs: $ISAS"
for isa in $ISAS; do
  echo "-- C++ kernel tests, GREBE_ISA=$isa --"
  GREBE_ISA=$isa ctest --test-dir build/cpp-tests --output-on-failure -j"$(nproc)"
done
echo "== Python tests =="
# GREBE_NO_SKIP=1 turns any skipped test into a failure (see tests/python/conftest.py).
# Run outside the source tree's python/ folder so `import grebe` finds the installed package.
GREBE_NO_SKIP=1 python -m pytest "$PWD/tests/python" "$PWD/tests/keras_io" -q -p no:cacheprovider \
    --rootdir "$PWD" "$@"
# The tests whose results depend on the ISA's kernels (activations, recurrent layers, pooling,
# losses, batch norm and its fusions, NaN pass-through, depthwise conv), again under each lower
# ISA.
ISA_TESTS="test_ops_activation.py test_rnn_ops.py test_rnn_layers.py test_pool.py test_losses.py
           test_nan_faithful.py test_batchnorm.py test_fusion_batchnorm.py test_bf16_kernels.py
           test_depthwise_conv.py"
ISA_TESTS="$ISA_TESTS test_mixed_precision_layers.py"  # bf16 layers: vdpbf16ps or its rounding
for isa in $ISAS; do
  [ "$isa" = "$(echo $ISAS | cut -d' ' -f1)" ] && continue  # the best ISA ran above
  echo "-- ISA-sensitive Python tests, GREBE_ISA=$isa --"
  GREBE_ISA=$isa GREBE_NO_SKIP=1 python -m pytest $(for f in $ISA_TESTS; do
    echo "$PWD/tests/python/$f"; done) -q -p no:cacheprovider --rootdir "$PWD" "$@"
done
