// rnn.h — whole-sequence recurrent layers (SimpleRNN, LSTM, GRU) in Keras 3's layouts and gate
// orders, forward and backward (BPTT), one call per direction per pass.
//
// Legend: B batch, T timesteps, F input features, U units, G gates (SimpleRNN 1, LSTM 4, GRU 3),
// GU = G*U. "Step" s = 0..T-1 is the processing order: timestep t = s, or T-1-s when `reverse`
// (Keras go_backwards), and every sequence output is in processing order as Keras returns it.
//   kernel W (F, GU), recurrent kernel R (U, GU), bias (GU) (GRU reset_after: input bias bx and
//   recurrent bias bh, the two rows of Keras's (2, 3U) bias).
//   LSTM gates i, f, c, o:  c_s = f*c_{s-1} + i*act(z_c),  h_s = o*act(c_s)
//   GRU gates z, r, h (reset_after):  hh = act(x W_h + bx_h + r*(h R_h + bh_h)),
//                                     h_s = z*h_{s-1} + (1-z)*hh
//   GRU reset_before:  hh = act(x W_h + bx_h + (r*h_{s-1}) R_h)
//   SimpleRNN:  h_s = act(x W + b + h_{s-1} R)
// Masking (Keras): where mask[b, t] == 0 the states carry through unchanged and the output at that
// step is the carried h. Recurrent dropout: per-gate multipliers rdrop (G, B, U) applied to h_{s-1}
// where it enters the recurrent product (Keras's implementation=1 semantics).
//
// Results are bit-identical for any thread count: threads own disjoint output elements (units,
// rows) and every sum runs in an order fixed by the shape.
#pragma once
#include <cstdint>

namespace grebe {

enum class RnnCell : int { simple = 0, lstm = 1, gru = 2, gru_reset_before = 3 };
enum class RnnAct : int { tanh = 0, sigmoid = 1, relu = 2, hard_sigmoid = 3, linear = 4 };

int rnn_gates(RnnCell cell);

struct RnnArgs {
    RnnCell cell = RnnCell::lstm;
    RnnAct act = RnnAct::tanh;       // candidate / cell-output activation
    RnnAct ract = RnnAct::sigmoid;   // gate activation (LSTM, GRU)
    bool reverse = false;            // go_backwards
    int64_t B = 0, T = 0, F = 0, U = 0;

    // Inputs of the forward (and, unchanged, of the backward).
    const float* x = nullptr;        // (B,T,F)
    const float* h0 = nullptr;       // (B,U), nullptr = zeros
    const float* c0 = nullptr;       // (B,U) LSTM, nullptr = zeros
    const float* W = nullptr;        // (F,GU)
    const float* R = nullptr;        // (U,GU)
    const float* bx = nullptr;       // (GU) or nullptr
    const float* bh = nullptr;       // (GU) GRU reset_after recurrent bias, or nullptr
    const uint8_t* mask = nullptr;   // (B,T) nonzero = step used, or nullptr
    const float* rdrop = nullptr;    // (G,B,U) recurrent-dropout multipliers, or nullptr

    // Forward outputs.
    float* y = nullptr;              // (B,T,U) outputs in processing order, or nullptr
    float* hT = nullptr;             // (B,U) final h (= the last output)
    float* cT = nullptr;             // (B,U) LSTM final c

    // Saved by a training forward, read by the backward (nullptr in inference: then the forward
    // keeps only two steps of state in a workspace).
    float* hs = nullptr;             // (T+1,B,U) hs[s] = h before step s; hs[0] = h0
    float* cs = nullptr;             // (T+1,B,U) LSTM c, same indexing
    float* gates = nullptr;          // (T,B,GU) activated gates: LSTM i,f,c~,o; GRU z,r,hh
    float* aux = nullptr;            // (T,B,U) LSTM act(c_s); GRU reset_after h R_h + bh_h;
                                     // GRU reset_before r*h_{s-1}*rdrop_h

    // Backward: upstream gradients (nullptr = zero) and results (nullptr = not wanted).
    const float* dy = nullptr;       // (B,T,U)
    const float* dhT = nullptr;      // (B,U)
    const float* dcT = nullptr;      // (B,U) LSTM
    float* dx = nullptr;             // (B,T,F)
    float* dh0 = nullptr;            // (B,U)
    float* dc0 = nullptr;            // (B,U) LSTM
    float* dW = nullptr;             // (F,GU)
    float* dR = nullptr;             // (U,GU)
    float* dbx = nullptr;            // (GU)
    float* dbh = nullptr;            // (GU) GRU reset_after
};

// Runs the sequence; writes y (if set), hT, cT and, when hs is set, the saved tensors.
void rnn_forward(const RnnArgs& a);
// BPTT over a training forward's saved tensors; OVERWRITES every requested gradient.
void rnn_backward(const RnnArgs& a);

// Whether the fused AVX2 path serves this configuration on this CPU (else the portable path).
bool rnn_uses_fused_path(const RnnArgs& a);

}  // namespace grebe
