// loss.cpp — bindings of the loss kernels.
#include "bindings/common.h"

namespace grebe {

void bind_loss(py::module_& m) {}

}  // namespace grebe
