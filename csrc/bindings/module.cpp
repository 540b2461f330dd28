// module.cpp — the extension grebe._C: one bind_* function per op family, each in its own file.
#include "bindings/common.h"
#include "kernels/allocator.h"

namespace grebe {
void bind_config(py::module_& m);
void bind_gemm(py::module_& m);
void bind_elementwise(py::module_& m);
void bind_optim(py::module_& m);
void bind_loss(py::module_& m);
void bind_conv(py::module_& m);
void bind_pool(py::module_& m);
void bind_batchnorm(py::module_& m);
void bind_rnn(py::module_& m);
void bind_depthwise_conv(py::module_& m);
void bind_grouped_conv(py::module_& m);
void bind_bf16(py::module_& m);
}  // namespace grebe

PYBIND11_MODULE(_C, m) {
    m.doc() = "grebe native kernels (C++17 + OpenMP)";
    m.attr("malloc_tuned") = grebe::tune_allocator();
    grebe::bind_config(m);
    grebe::bind_gemm(m);
    grebe::bind_elementwise(m);
    grebe::bind_optim(m);
    grebe::bind_loss(m);
    grebe::bind_conv(m);
    grebe::bind_pool(m);
    grebe::bind_batchnorm(m);
    grebe::bind_rnn(m);
    grebe::bind_depthwise_conv(m);
    grebe::bind_grouped_conv(m);
    grebe::bind_bf16(m);
}
