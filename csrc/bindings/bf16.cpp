// bf16.cpp — bindings of the bfloat16 mixed-precision kernels (kernels/bf16.h): round_bf16,
// has_bf16, bf16_peak_gflops, and the *_bf16 twin of every GEMM, conv and RNN binding. A twin
// takes exactly the arguments of its fp32 binding, runs the same checks (errors name
// "<op>_bf16") and returns the same things; it computes the same op with its matrix operands
// rounded to bf16 and fp32 accumulation (see kernels/bf16.h for which operands).
#include "kernels/bf16.h"

#include "bindings/common.h"
#include "bindings/variants.h"

namespace grebe {

void bind_bf16(py::module_& m) {
    m.def("round_bf16",
          [](const py::array& x) {
              check_f32(x, "round_bf16", "x");
              std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim());
              f32array y = empty_f32(shape);
              const float* xp = ptr_f32(x);
              float* yp = y.mutable_data();
              const int64_t n = x.size();
              {
                  py::gil_scoped_release release;
                  round_bf16(yp, xp, n);
              }
              return y;
          },
          py::arg("x"),
          "A new float32 array: every element of x (C-contiguous float32, any shape) rounded "
          "to the nearest bfloat16, ties to even; NaN stays NaN (quieted), +-Inf stays +-Inf, "
          "values past the largest bfloat16 become +-Inf, subnormals round like any value.");
    m.def("has_bf16", &has_bf16,
          "True when the *_bf16 kernels run on AVX512-BF16 (vdpbf16ps): the CPU reports "
          "avx512_bf16 and the active ISA is avx512. Otherwise they run the portable path "
          "(operands rounded, fp32 kernels), with the same results up to fp32 rounding.");
    m.def("bf16_peak_gflops",
          [](int threads, double seconds) {
              if (threads < 1 || threads > 1024)
                  throw py::value_error(
                      "bf16_peak_gflops: threads must be in [1, 1024], received " +
                      std::to_string(threads));
              py::gil_scoped_release nogil;
              return bf16_peak_gflops(threads, seconds);
          },
          py::arg("threads"), py::arg("seconds") = 0.2,
          "Measured bf16 multiply-add peak (GFLOP/s, 2 flops per product) of a register-only "
          "vdpbf16ps loop on `threads` threads; 0.0 when has_bf16() is False (this CPU or the "
          "active ISA has no vdpbf16ps: compare against fma_peak_gflops then).");
    const char* doc =
        "bfloat16 mixed precision: the fp32 op with its matrix operands rounded to bfloat16 "
        "(round to nearest even) and fp32 accumulation; same arguments, checks and results as "
        "the fp32 binding. ";
    bind_gemm_ops(m, {"_bf16", doc, &sgemm_bias_act_bf16, &sgemm_strided_batched_bf16});
    bind_conv_ops(m, {"_bf16", doc, &conv2d_forward_bf16, &conv2d_backward_data_bf16,
                      &conv2d_backward_weights_bf16, &conv2d_backward_bf16,
                      &conv2d_relu_maxpool_forward_bf16, &conv2d_relu_maxpool_backward_bf16});
    bind_rnn_ops(m, {"_bf16", doc, &rnn_forward_bf16, &rnn_backward_bf16});
}

}  // namespace grebe
