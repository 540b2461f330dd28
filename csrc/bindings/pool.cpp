// pool.cpp — bindings of the pool kernels.
#include "bindings/common.h"

namespace grebe {

void bind_pool(py::module_& m) {}

}  // namespace grebe
