// gemm.cpp — bindings of the gemm kernels.
#include "bindings/common.h"

namespace grebe {

void bind_gemm(py::module_& m) {}

}  // namespace grebe
