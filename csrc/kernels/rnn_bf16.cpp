// rnn_bf16.cpp — recurrent layers with bf16 matrix operands (bf16.h): x, the kernel W and the
// recurrent kernel R are rounded to bf16 (into scratch) and the fp32 sequence kernels of rnn.h
// run on the rounded copies; states, gates, dx, dh0, dc0 and the bias gradients stay fp32. The
// backward skips the fused pass's step-by-step weight gradients: dW = round(x)^T round(dG) and
// dR = round(h)^T round(dG) are one bf16 GEMM each over all T*B rows (sbgemm when has_bf16(),
// 1.5-1.8x sgemm at these shapes; else round + sgemm, the same values up to fp32 order).
// Built without ISA flags. Legend as in rnn.h: B batch, T timesteps, F features, U units,
// G gates.
#include "kernels/bf16.h"
#include "kernels/bf16_internal.h"
#include "kernels/rnn_internal.h"

namespace grebe {

namespace {

// a with x (B,T,F), W (F,GU) and R (U,GU) replaced by their bf16-rounded copies.
RnnArgs rounded_args(const RnnArgs& a) {
    const int64_t GU = rnn_gates(a.cell) * a.U;
    RnnArgs r = a;
    r.x = bf16::rounded(bf16::kOperandA, a.x, a.B * a.T * a.F);
    r.W = bf16::rounded(bf16::kOperandB, a.W, a.F * GU);
    r.R = bf16::rounded(bf16::kOperandC, a.R, a.U * GU);
    return r;
}

}  // namespace

void rnn_forward_bf16(const RnnArgs& a) { rnn_forward(rounded_args(a)); }

void rnn_backward_bf16(const RnnArgs& a) { rnn::backward(rounded_args(a), true); }

}  // namespace grebe
