// conv.cpp — bindings of the conv kernels.
#include "bindings/common.h"

namespace grebe {

void bind_conv(py::module_& m) {}

}  // namespace grebe
