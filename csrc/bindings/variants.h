// variants.h — the bindings that exist in two precisions: the fp32 ones (gemm.cpp, conv.cpp,
// rnn.cpp register them) and their bf16 twins (bf16.cpp). One checking-and-calling code path
// per op, handed a table of kernels and a name suffix, so both precisions take the same
// arguments, apply the same checks and raise the same errors (naming "<op><suffix>").
#pragma once
#include <deque>
#include <string>

#include "bindings/common.h"
#include "kernels/conv.h"
#include "kernels/gemm/gemm.h"
#include "kernels/rnn.h"

namespace grebe {

struct GemmKernels {
    const char* suffix;  // "" or "_bf16": appended to the op names and binding names
    const char* doc;     // prepended to every docstring
    decltype(&sgemm_bias_act) bias_act;
    decltype(&sgemm_strided_batched) strided_batched;
};
struct ConvKernels {
    const char* suffix;
    const char* doc;
    decltype(&conv2d_forward) forward;
    decltype(&conv2d_backward_data) backward_data;
    decltype(&conv2d_backward_weights) backward_weights;
    decltype(&conv2d_backward) backward;
    decltype(&conv2d_relu_maxpool_forward) relu_maxpool_forward;
    decltype(&conv2d_relu_maxpool_backward) relu_maxpool_backward;
};
struct RnnKernels {
    const char* suffix;
    const char* doc;
    decltype(&rnn_forward) forward;
    decltype(&rnn_backward) backward;
};

// Register sgemm/matmul, the conv2d_* passes, and {lstm,gru,simple_rnn}_{forward,backward}
// under their names + k.suffix.
void bind_gemm_ops(py::module_& m, const GemmKernels& k);
void bind_conv_ops(py::module_& m, const ConvKernels& k);
void bind_rnn_ops(py::module_& m, const RnnKernels& k);

// A string that lives as long as the module (pybind11 keeps the char pointers of names).
inline const char* keep(const std::string& s) {
    static std::deque<std::string> kept;
    kept.push_back(s);
    return kept.back().c_str();
}

}  // namespace grebe
