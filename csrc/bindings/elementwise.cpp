// elementwise.cpp — bindings of the elementwise kernels.
#include "bindings/common.h"

namespace grebe {

void bind_elementwise(py::module_& m) {}

}  // namespace grebe
