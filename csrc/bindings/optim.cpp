// optim.cpp — bindings of the optim kernels.
#include "bindings/common.h"

namespace grebe {

void bind_optim(py::module_& m) {}

}  // namespace grebe
