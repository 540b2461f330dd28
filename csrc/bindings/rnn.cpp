// rnn.cpp — bindings of the rnn kernels.
#include "bindings/common.h"

namespace grebe {

void bind_rnn(py::module_& m) {}

}  // namespace grebe
