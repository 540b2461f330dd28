// rnn_internal.h — what the recurrent-layer driver (rnn.cpp) shares with its two recurrence
// passes: the portable one (rnn_generic.cpp) and the fused AVX2 and AVX-512 ones (rnn_avx2.cpp,
// rnn_avx512.cpp).
// Declarations only: nothing inline is shared between files built with different ISA flags.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/rnn.h"

namespace grebe {
namespace rnn {

// One recurrence pass, resolved by the driver.
struct Pass {
    const RnnArgs* a;
    int G;
    int64_t GU;
    // h and c states: (T+1,B,U) when `full` (a training forward, or the backward reading them),
    // else two (B,U) slices used in turn (inference): step s reads slice s and writes s+1,
    // taken modulo 2.
    float* hs;
    float* cs;
    bool full;
    // Backward only.
    float* dG;     // (T,B,GU) d(loss)/d(gate pre-activations); GRU reset_after: recurrent side
                   // [dz, dr, dh*r]; everything else: the input side too
    int64_t ldG;   // row stride of dG (>= GU)
    float* dXh;    // (T,B,U) GRU reset_after: d/d(input-side h pre-activation)
    float* carry;  // (B,U) on entry dhT (or zeros): gradient of the state h flowing back
    float* dc;     // (B,U) LSTM: on entry dcT (or zeros); on exit dc0
    float* dh0;    // (B,U) where the pass leaves d/dh0 (may alias carry)
    bool want_dh0; // false: the last product (d/dh0) may be skipped
    bool weights_in_pass;  // the fused backward adds dR, dW, dbx, dbh itself, step by step
                           // (the driver zeroes them first); else the driver runs GEMMs
    bool dG_full;  // dG/dXh hold all T steps; else kWeightSlots steps, slot = step % slots
};

// The fused backward adds each step's weight gradients kWeightLag steps after computing its dG
// and keeps kWeightSlots steps of dG; it does so from kFuseWeightsMinBatch rows on (below, one
// GEMM over all T*B rows after the loop is cheaper).
constexpr int64_t kWeightLag = 3;
constexpr int64_t kWeightSlots = kWeightLag + 2;
constexpr int64_t kFuseWeightsMinBatch = 16;

// Threads for a fused pass over B rows doing `work` multiply-adds in all: the budget when the
// work pays for a fork/join, never more than there are rows to split.
int pass_threads(int64_t B, int64_t work);

// Forward: needs p.hs[0] (and p.cs[0]) set; writes states for s = 1..T, a->y and the saved
// gates/aux when a->gates is set. Backward: fills dG (and dXh), dc, and dh0.
void forward_generic(const Pass& p);
void backward_generic(const Pass& p);
void forward_fused_avx2(const Pass& p);
void backward_fused_avx2(const Pass& p);
void forward_fused_avx512(const Pass& p);
void backward_fused_avx512(const Pass& p);

// rnn_backward; with bf16_weight_grads the weight gradients dW and dR come from one GEMM over
// all T*B rows after the loop with both operands rounded to bf16 (x or h, and dG), through
// sgemm_bias_act_bf16 (sbgemm when has_bf16()); dx, dh0, dc0 and the bias gradients as fp32.
void backward(const RnnArgs& a, bool bf16_weight_grads);

// Grow-only, 64-byte aligned scratch owned by the calling thread, one buffer per slot.
enum Slot { kWsH = 0, kWsC, kWsZ, kWsQ, kWsA, kWsDG, kWsDXh, kWsCarry, kWsDc, kWsXs, kWsPack,
            kWsCount };
float* workspace(int slot, size_t floats);

}  // namespace rnn
}  // namespace grebe
