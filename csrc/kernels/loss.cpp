// loss.cpp — softmax / sigmoid cross-entropy, loss and gradient in one pass over the logits.
// Log-sum-exp trick: lse = max + log(sum exp(x - max)), so logits of any size give finite
// losses and exact gradients. Rows are independent: threads split rows (never a row's sum), so
// the bits do not depend on the thread count.
#include "kernels/loss.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/runtime.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace grebe {

// AVX-512 row kernel (loss_avx512.cpp): the contract of row_exp_sum below.
double row_exp_sum_avx512(float* e, const float* x, int64_t C, float* mx_out);
// AVX-512 sigmoid cross-entropy over [b, e) (loss_avx512.cpp): the formulas below with vector
// exp/log1p (a few ulp from libm's; the same non-finite positions).
void sigmoid_cross_entropy_range_avx512(float* loss, float* dlogits, const float* logits,
                                        const float* targets, int64_t b, int64_t e);

namespace {

// exp(x) for x <= 0 (a logit minus its row max), within 2 ulp of std::exp: Cephes's expf.
// x / ln2 is rounded to n with the 1.5 * 2^23 trick, x - n ln2 is reduced with a two-part ln2,
// a degree-6 polynomial gives e^r, and 2^n is built in the exponent bits. Below -87.33 the
// true value is under FLT_MIN and 0 is returned; NaN stays NaN. The SSE2 form (std::exp is a
// scalar libm call) does the same operations in the same order, so both give the same bits.
constexpr float kExpLo = -87.33f, kLog2e = 1.44269504088896341f, kMagic = 12582912.0f;
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
constexpr float kP0 = 1.9875691500e-4f, kP1 = 1.3981999507e-3f, kP2 = 8.3334519073e-3f,
                kP3 = 4.1665795894e-2f, kP4 = 1.6666665459e-1f, kP5 = 5.0000001201e-1f;

inline float exp_nonpos(float x) {
    const float xc = x < kExpLo ? kExpLo : x;
    const float n = (xc * kLog2e + kMagic) - kMagic;
    const float r = (xc - n * kLn2Hi) - n * kLn2Lo;
    float p = kP0;
    p = p * r + kP1;
    p = p * r + kP2;
    p = p * r + kP3;
    p = p * r + kP4;
    p = p * r + kP5;
    const float y = (p * (r * r) + r) + 1.0f;
    const int32_t bits = ((n == n ? static_cast<int32_t>(n) : 0) + 127) * (1 << 23);
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return x < kExpLo ? 0.0f : y * scale;
}

#if defined(__SSE2__)
inline __m128 exp_nonpos4(__m128 x) {
    const __m128 lo = _mm_set1_ps(kExpLo), magic = _mm_set1_ps(kMagic);
    const __m128 xc = _mm_max_ps(lo, x);  // maxps returns its second operand for NaN
    const __m128 n = _mm_sub_ps(_mm_add_ps(_mm_mul_ps(xc, _mm_set1_ps(kLog2e)), magic), magic);
    const __m128 r = _mm_sub_ps(_mm_sub_ps(xc, _mm_mul_ps(n, _mm_set1_ps(kLn2Hi))),
                                _mm_mul_ps(n, _mm_set1_ps(kLn2Lo)));
    __m128 p = _mm_set1_ps(kP0);
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(kP1));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(kP2));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(kP3));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(kP4));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(kP5));
    const __m128 y = _mm_add_ps(_mm_add_ps(_mm_mul_ps(p, _mm_mul_ps(r, r)), r), _mm_set1_ps(1.0f));
    const __m128i bits = _mm_slli_epi32(_mm_add_epi32(_mm_cvttps_epi32(n), _mm_set1_epi32(127)),
                                        23);
    const __m128 v = _mm_mul_ps(y, _mm_castsi128_ps(bits));
    return _mm_andnot_ps(_mm_cmplt_ps(x, lo), v);  // x < lo: 0 (NaN compares false: kept)
}
#endif

// dst[k] = exp(src[k] - mx) for k < m; returns their sum in double, accumulated in a fixed
// pattern (lanes k % 4, then lane order) that depends only on m.
inline double exp_shifted_sum(float* dst, const float* src, int64_t m, float mx) {
    int64_t k = 0;
    double tail = 0.0;
#if defined(__SSE2__)
    const __m128 mv = _mm_set1_ps(mx);
    __m128d lo = _mm_setzero_pd(), hi = _mm_setzero_pd();
    for (; k + 4 <= m; k += 4) {
        const __m128 e = exp_nonpos4(_mm_sub_ps(_mm_loadu_ps(src + k), mv));
        _mm_storeu_ps(dst + k, e);
        lo = _mm_add_pd(lo, _mm_cvtps_pd(e));
        hi = _mm_add_pd(hi, _mm_cvtps_pd(_mm_movehl_ps(e, e)));
    }
    double l[2], h[2];
    _mm_storeu_pd(l, lo);
    _mm_storeu_pd(h, hi);
    tail = (l[0] + l[1]) + (h[0] + h[1]);
#endif
    for (; k < m; k++) {
        dst[k] = exp_nonpos(src[k] - mx);
        tail += dst[k];
    }
    return tail;
}

// The largest of x[0..C) (NaN entries may be skipped: they reach the loss through exp).
inline float row_max(const float* x, int64_t C) {
    float mx = x[0];
    int64_t c = 1;
#if defined(__SSE2__)
    if (C >= 8) {
        __m128 m4 = _mm_loadu_ps(x);
        for (c = 4; c + 4 <= C; c += 4) m4 = _mm_max_ps(m4, _mm_loadu_ps(x + c));
        float t[4];
        _mm_storeu_ps(t, m4);
        mx = std::max(std::max(t[0], t[1]), std::max(t[2], t[3]));
    }
#endif
    for (; c < C; c++) mx = std::max(mx, x[c]);
    return mx;
}

// One row: returns sum_c exp(x_c - mx) (double, fixed order) and sets mx = max_c x_c; when
// e is not null it also receives exp(x - mx). lse = mx + log(sum). v512: loss_avx512.cpp's
// kernel (the same exp bits; the double sum in its own fixed lane order).
inline double row_exp_sum(float* e, const float* x, int64_t C, float* mx_out, bool v512) {
    if (v512) return row_exp_sum_avx512(e, x, C, mx_out);
    float mx = row_max(x, C);
    if (!std::isfinite(mx)) mx = 0.0f;  // all -inf, or +inf/NaN: let the inf/NaN propagate
    *mx_out = mx;
    constexpr int64_t kBuf = 256;
    float buf[kBuf];
    double s = 0.0;
    for (int64_t c0 = 0; c0 < C; c0 += kBuf) {
        const int64_t m = std::min(kBuf, C - c0);
        s += exp_shifted_sum(e ? e + c0 : buf, x + c0, m, mx);
    }
    return s;
}

}  // namespace

// logits (N,C), labels (N,) -> loss (N,), dlogits (N,C) = softmax - onehot.
void softmax_cross_entropy_sparse(float* loss, float* dlogits, const float* logits,
                                  const int64_t* labels, int64_t N, int64_t C) {
    const bool v512 = active_isa() == Isa::avx512;
    // Each row i writes only loss[i] and dlogits row i: no two threads share an output.
    #pragma omp parallel for if (threads_for(N * C * 4) > 1) num_threads(threads_for(N * C * 4))
    for (int64_t i = 0; i < N; i++) {
        const float* x = logits + i * C;
        float* e = dlogits ? dlogits + i * C : nullptr;
        float mx;
        const double s = row_exp_sum(e, x, C, &mx, v512);
        const int64_t y = labels[i];
        loss[i] = (mx + static_cast<float>(std::log(s))) - x[y];
        if (e) {
            const float r = static_cast<float>(1.0 / s);
            for (int64_t c = 0; c < C; c++) e[c] *= r;
            e[y] -= 1.0f;
        }
    }
}

// logits (N,C), targets (N,C) -> loss (N,), dlogits (N,C) = softmax * sum(t) - t.
void softmax_cross_entropy_dense(float* loss, float* dlogits, const float* logits,
                                 const float* targets, int64_t N, int64_t C) {
    const bool v512 = active_isa() == Isa::avx512;
    // Each row i writes only loss[i] and dlogits row i: no two threads share an output.
    #pragma omp parallel for if (threads_for(N * C * 4) > 1) num_threads(threads_for(N * C * 4))
    for (int64_t i = 0; i < N; i++) {
        const float* x = logits + i * C;
        const float* t = targets + i * C;
        float* e = dlogits ? dlogits + i * C : nullptr;
        float mx;
        const double s = row_exp_sum(e, x, C, &mx, v512);
        const float lse = mx + static_cast<float>(std::log(s));
        double l = 0.0, tsum = 0.0;
        for (int64_t c = 0; c < C; c++) {
            // Entries with t == 0 are skipped, so the -inf logit of an absent class does not
            // turn 0 * inf into NaN.
            if (t[c] != 0.0f) l += static_cast<double>(t[c]) * (lse - x[c]);
            tsum += t[c];
        }
        loss[i] = static_cast<float>(l);
        if (e) {
            const float r = static_cast<float>(tsum / s);
            for (int64_t c = 0; c < C; c++) e[c] = e[c] * r - t[c];
        }
    }
}

// Elementwise sigmoid cross-entropy with logits.
void sigmoid_cross_entropy(float* loss, float* dlogits, const float* logits,
                           const float* targets, int64_t n) {
    if (active_isa() == Isa::avx512) {
        constexpr int64_t kChunk = 4096;
        const int64_t chunks = (n + kChunk - 1) / kChunk;
        // Elementwise: chunk c writes loss and dlogits in [c*4096, (c+1)*4096) only.
        #pragma omp parallel for if (threads_for(n * 8) > 1) num_threads(threads_for(n * 8))
        for (int64_t c = 0; c < chunks; c++)
            sigmoid_cross_entropy_range_avx512(loss, dlogits, logits, targets, c * kChunk,
                                               std::min(n, (c + 1) * kChunk));
        return;
    }
    // Elementwise: each i writes loss[i] and dlogits[i] only.
    #pragma omp parallel for if (threads_for(n * 8) > 1) num_threads(threads_for(n * 8))
    for (int64_t i = 0; i < n; i++) {
        const float x = logits[i], z = targets[i];
        const float ex = std::exp(-std::fabs(x));
        loss[i] = std::max(x, 0.0f) - x * z + std::log1p(ex);
        if (dlogits) {
            // sigmoid(x) from exp(-|x|), which never overflows.
            const float sig = x >= 0.0f ? 1.0f / (1.0f + ex) : ex / (1.0f + ex);
            dlogits[i] = sig - z;
        }
    }
}

int64_t first_bad_label(const int64_t* labels, int64_t N, int64_t C) {
    for (int64_t i = 0; i < N; i++)
        if (labels[i] < 0 || labels[i] >= C) return i;
    return -1;
}

}  // namespace grebe
