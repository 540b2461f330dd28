// elementwise.cpp — activations, bias + activation, row softmax: the portable scalar loops (also
// the test oracle), the thread split, and the choice of the AVX-512 or AVX2 version at run time.
// Legend: n elements; M rows, N columns. Nothing accumulates: every output is overwritten.
#include "kernels/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/elementwise_internal.h"
#include "kernels/runtime.h"

namespace grebe {
namespace {

constexpr float kSeluScale = 1.0507009873554804934193349852946f;
constexpr float kSeluAlpha = 1.6732632423543772848170429916717f;
constexpr float kSqrt1_2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kGeluCubic = 0.044715f;

// Elements per parallel task. Fixed, so how the work is cut never depends on the thread count.
constexpr int64_t kChunk = 1 << 14;

inline float sigmoid1(float x) { return 1.0f / (1.0f + std::exp(-x)); }
inline float clamp06(float x) { return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x); }

// Relative cost of one element (a relu = 1, about 0.1 ns on one Zen3 core) for the threading
// threshold; measured with the AVX2 kernels (vector) and the scalar libm loops.
int64_t act_cost(Act act, bool vector) {
    switch (act) {
        case Act::linear: case Act::relu: case Act::relu6: case Act::leaky_relu:
        case Act::hard_sigmoid:
            return 1;
        case Act::gelu: case Act::gelu_tanh:
            return vector ? 16 : 64;
        case Act::softplus:
            return 64;  // scalar in every build
        default:
            return vector ? 4 : 64;
    }
}

bool use_avx2() { return active_isa() >= Isa::avx2; }
bool use_avx512() { return active_isa() >= Isa::avx512; }

// Runs f(lo, hi) over [0, n): on one thread when the work is small, else over fixed chunks.
template <class F>
void for_chunks(int64_t n, int64_t cost, int64_t chunk, F&& f) {
    const int nt = threads_for(n * cost);
    if (nt <= 1 || n <= chunk) {
        f(int64_t(0), n);
        return;
    }
    const int64_t tasks = (n + chunk - 1) / chunk;
    // Each task writes only its own range [lo, hi) of the outputs: no element is shared.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t t = 0; t < tasks; t++) f(t * chunk, std::min(n, (t + 1) * chunk));
}

}  // namespace

bool act_grad_uses_output(Act act) {
    return act == Act::linear || act == Act::relu || act == Act::sigmoid || act == Act::tanh;
}

// x (n) -> y (n) = act(x), scalar. y may equal x.
void act_forward_reference(float* y, const float* x, int64_t n, Act act, float alpha) {
    auto map = [&](auto f) {
        for (int64_t i = 0; i < n; i++) y[i] = f(x[i]);
    };
    switch (act) {
        case Act::linear:
            if (y != x) std::memmove(y, x, n * sizeof(float));
            break;
        case Act::relu: map([](float v) { return v < 0.0f ? 0.0f : v; }); break;
        case Act::relu6: map([](float v) { return clamp06(v); }); break;
        case Act::leaky_relu: map([=](float v) { return v < 0.0f ? alpha * v : v; }); break;
        case Act::elu: map([=](float v) { return v > 0.0f ? v : alpha * std::expm1(v); }); break;
        case Act::selu:
            map([](float v) { return kSeluScale * (v > 0.0f ? v : kSeluAlpha * std::expm1(v)); });
            break;
        case Act::sigmoid: map([](float v) { return sigmoid1(v); }); break;
        case Act::hard_sigmoid: map([](float v) { return clamp06(v + 3.0f) / 6.0f; }); break;
        case Act::tanh: map([](float v) { return std::tanh(v); }); break;
        case Act::gelu: map([](float v) { return 0.5f * v * std::erfc(-v * kSqrt1_2); }); break;
        case Act::gelu_tanh:
            map([](float v) {
                return 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + kGeluCubic * v * v * v)));
            });
            break;
        case Act::silu: map([](float v) { return v * sigmoid1(v); }); break;
        case Act::softplus:
            map([](float v) { return std::max(v, 0.0f) + std::log1p(std::exp(-std::fabs(v))); });
            break;
        default: break;
    }
}

// dy (n) and x or y (n) -> dx (n) = dy * act'(.), scalar. dx may equal dy.
// PyTorch's conventions at the kinks: relu'(0) = 0; relu6' and hard_sigmoid' are 0 there.
void act_backward_reference(float* dx, const float* dy, const float* x, const float* y,
                            int64_t n, Act act, float alpha) {
    auto map = [&](const float* s, auto f) {
        for (int64_t i = 0; i < n; i++) dx[i] = f(dy[i], s[i]);
    };
    switch (act) {
        case Act::linear:
            if (dx != dy) std::memmove(dx, dy, n * sizeof(float));
            break;
        case Act::relu: map(y, [](float g, float v) { return v > 0.0f ? g : 0.0f; }); break;
        case Act::relu6:
            map(x, [](float g, float v) { return v > 0.0f && v < 6.0f ? g : 0.0f; });
            break;
        case Act::leaky_relu:
            map(x, [=](float g, float v) { return v > 0.0f ? g : g * alpha; });
            break;
        case Act::elu:
            map(x, [=](float g, float v) { return v > 0.0f ? g : g * alpha * std::exp(v); });
            break;
        case Act::selu:
            map(x, [](float g, float v) {
                return g * kSeluScale * (v > 0.0f ? 1.0f : kSeluAlpha * std::exp(v));
            });
            break;
        case Act::sigmoid: map(y, [](float g, float s) { return g * s * (1.0f - s); }); break;
        case Act::hard_sigmoid:
            map(x, [](float g, float v) { return v > -3.0f && v < 3.0f ? g / 6.0f : 0.0f; });
            break;
        case Act::tanh: map(y, [](float g, float t) { return g * (1.0f - t * t); }); break;
        case Act::gelu:  // Phi(x) + x phi(x)
            map(x, [](float g, float v) {
                float cdf = 0.5f * std::erfc(-v * kSqrt1_2);
                return g * (cdf + v * kInvSqrt2Pi * std::exp(-0.5f * v * v));
            });
            break;
        case Act::gelu_tanh:
            map(x, [](float g, float v) {
                float t = std::tanh(kSqrt2OverPi * (v + kGeluCubic * v * v * v));
                float dt = (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kGeluCubic * v * v);
                return g * (0.5f * (1.0f + t) + 0.5f * v * dt);
            });
            break;
        case Act::silu:  // s (1 + x (1 - s))
            map(x, [](float g, float v) {
                float s = sigmoid1(v);
                return g * s * (1.0f + v * (1.0f - s));
            });
            break;
        case Act::softplus: map(x, [](float g, float v) { return g * sigmoid1(v); }); break;
        default: break;
    }
}

// x (M, N) -> y (M, N), softmax or log_softmax of each row, scalar. y may equal x.
void softmax_forward_reference(float* y, const float* x, int64_t M, int64_t N, bool log) {
    for (int64_t i = 0; i < M; i++) {
        const float* xr = x + i * N;
        float* yr = y + i * N;
        float mx = -INFINITY;
        for (int64_t j = 0; j < N; j++) mx = std::max(mx, xr[j]);
        if (mx == -INFINITY) mx = 0.0f;  // an all -inf row: avoid inf - inf
        float sum = 0.0f;
        if (log) {
            for (int64_t j = 0; j < N; j++) sum += std::exp(xr[j] - mx);
            const float lse = std::log(sum);  // (x - max) - lse keeps lse's precision
            for (int64_t j = 0; j < N; j++) yr[j] = (xr[j] - mx) - lse;
        } else {
            for (int64_t j = 0; j < N; j++) sum += (yr[j] = std::exp(xr[j] - mx));
            const float inv = 1.0f / sum;
            for (int64_t j = 0; j < N; j++) yr[j] *= inv;
        }
    }
}

// dy (M, N), y (M, N) -> dx (M, N), scalar. dx may equal dy.
void softmax_backward_reference(float* dx, const float* dy, const float* y, int64_t M, int64_t N,
                                bool log) {
    for (int64_t i = 0; i < M; i++) {
        const float* g = dy + i * N;
        const float* yr = y + i * N;
        float* d = dx + i * N;
        float s = 0.0f;
        if (log) {
            for (int64_t j = 0; j < N; j++) s += g[j];
            for (int64_t j = 0; j < N; j++) d[j] = g[j] - std::exp(yr[j]) * s;
        } else {
            for (int64_t j = 0; j < N; j++) s += g[j] * yr[j];
            for (int64_t j = 0; j < N; j++) d[j] = yr[j] * (g[j] - s);
        }
    }
}

// ---- dispatch + threads ------------------------------------------------------------------
static void act_forward_serial(float* y, const float* x, int64_t n, Act act, float alpha) {
    const int a = static_cast<int>(act);
    if (use_avx512() ? act_forward_avx512(y, x, n, a, alpha)
                     : use_avx2() && act_forward_avx2(y, x, n, a, alpha))
        return;
    act_forward_reference(y, x, n, act, alpha);
}

static void act_backward_serial(float* dx, const float* dy, const float* x, const float* y,
                                int64_t n, Act act, float alpha) {
    const int a = static_cast<int>(act);
    if (use_avx512() ? act_backward_avx512(dx, dy, x, y, n, a, alpha)
                     : use_avx2() && act_backward_avx2(dx, dy, x, y, n, a, alpha))
        return;
    act_backward_reference(dx, dy, x, y, n, act, alpha);
}

void act_forward(float* y, const float* x, int64_t n, Act act, float alpha) {
    for_chunks(n, act_cost(act, use_avx2()), kChunk, [&](int64_t lo, int64_t hi) {
        act_forward_serial(y + lo, x + lo, hi - lo, act, alpha);
    });
}

void act_backward(float* dx, const float* dy, const float* x, const float* y, int64_t n, Act act,
                  float alpha) {
    for_chunks(n, act_cost(act, use_avx2()) + 1, kChunk, [&](int64_t lo, int64_t hi) {
        act_backward_serial(dx + lo, dy + lo, x ? x + lo : nullptr, y ? y + lo : nullptr,
                            hi - lo, act, alpha);
    });
}

// x (M, N), bias (N) -> y (M, N) = act(x + bias), row by row. y may equal x.
void bias_act_forward(float* y, const float* x, const float* bias, int64_t M, int64_t N, Act act,
                      float alpha) {
    const int64_t rows_per_task = std::max<int64_t>(1, kChunk / std::max<int64_t>(N, 1));
    for_chunks(M, N * act_cost(act, use_avx2()), rows_per_task, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; i++) {
            float* yr = y + i * N;
            const float* xr = x + i * N;
            if (bias)
                for (int64_t j = 0; j < N; j++) yr[j] = xr[j] + bias[j];
            else if (yr != xr)
                std::memcpy(yr, xr, N * sizeof(float));
            act_forward_serial(yr, yr, N, act, alpha);
        }
    });
}

// dy (M, N), x or y (M, N) -> dz (M, N) = dy * act'(.); dbias (N) = column sums of dz.
void bias_act_backward(float* dz, float* dbias, const float* dy, const float* x, const float* y,
                       int64_t M, int64_t N, Act act, float alpha) {
    const int64_t cost = N * (act_cost(act, use_avx2()) + 1);
    auto rows = [&](int64_t lo, int64_t hi, bool add_bias) {
        for (int64_t i = lo; i < hi; i++) {
            const int64_t o = i * N;
            act_backward_serial(dz + o, dy + o, x ? x + o : nullptr, y ? y + o : nullptr, N, act,
                                alpha);
            if (add_bias)
                for (int64_t j = 0; j < N; j++) dbias[j] += dz[o + j];
        }
    };
    if (dbias) std::fill(dbias, dbias + N, 0.0f);
    if (threads_for(M * cost) <= 1) {
        rows(0, M, dbias != nullptr);  // one pass: each row is summed while still in L1
        return;
    }
    const int64_t rows_per_task = std::max<int64_t>(1, kChunk / std::max<int64_t>(N, 1));
    for_chunks(M, cost, rows_per_task, [&](int64_t lo, int64_t hi) { rows(lo, hi, false); });
    if (!dbias) return;
    // Column blocks: each task owns dbias[j0, j1) and adds rows 0..M-1 in order, the same
    // order as the one-pass loop above, so the sums are bit-identical for any thread count.
    constexpr int64_t kCols = 64;
    const int64_t blocks = (N + kCols - 1) / kCols;
    const int nt = threads_for(M * N);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t j0 = b * kCols, j1 = std::min(N, j0 + kCols);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = j0; j < j1; j++) dbias[j] += dz[i * N + j];
    }
}

void softmax_forward(float* y, const float* x, int64_t M, int64_t N, bool log) {
    const bool vec = use_avx2();
    const int64_t rows_per_task = std::max<int64_t>(1, kChunk / std::max<int64_t>(N, 1));
    for_chunks(M, N * (vec ? 6 : 24), rows_per_task, [&](int64_t lo, int64_t hi) {
        if (use_avx512())
            softmax_forward_avx512(y + lo * N, x + lo * N, hi - lo, N, log);
        else if (vec)
            softmax_forward_avx2(y + lo * N, x + lo * N, hi - lo, N, log);
        else
            softmax_forward_reference(y + lo * N, x + lo * N, hi - lo, N, log);
    });
}

void softmax_backward(float* dx, const float* dy, const float* y, int64_t M, int64_t N, bool log) {
    const bool vec = use_avx2();
    const int64_t rows_per_task = std::max<int64_t>(1, kChunk / std::max<int64_t>(N, 1));
    for_chunks(M, N * (log ? (vec ? 6 : 24) : 3), rows_per_task, [&](int64_t lo, int64_t hi) {
        if (use_avx512())
            softmax_backward_avx512(dx + lo * N, dy + lo * N, y + lo * N, hi - lo, N, log);
        else if (vec)
            softmax_backward_avx2(dx + lo * N, dy + lo * N, y + lo * N, hi - lo, N, log);
        else
            softmax_backward_reference(dx + lo * N, dy + lo * N, y + lo * N, hi - lo, N, log);
    });
}

}  // namespace grebe
