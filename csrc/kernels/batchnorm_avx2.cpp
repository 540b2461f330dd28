// batchnorm_avx2.cpp — the AVX2 form of batch_norm_backward (batchnorm.h has the contract,
// batchnorm.cpp the portable kernel and the dispatch under active_isa() avx2). Built with -mavx2
// -mfma (file suffix; FMA contraction is off). Eight channels a step, widened to two 4-lane
// double vectors; each channel sees the portable kernel's operations in its order (64-row
// sub-sums joining a 1024-row unit's sum, units added in order; dx in double, rounded once), so
// the results are the same bits. The channel tail (C % 8) uses masked loads and stores (lanes
// past the row read as 0 and are never written); full groups plain ones (vmaskmov stores are
// slow on AMD cores). NaN/Inf: only adds, multiplies and the ReLU's
// bit mask touch the data, as in the portable loops.
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/runtime.h"

namespace grebe {

namespace {

constexpr int64_t kSub = 64;     // rows summed before they join the unit sum (as batchnorm.cpp)
constexpr int64_t kUnit = 1024;  // rows per parallel unit (a multiple of kSub)

// Lane masks for channels c..c+7 of C: all ones where the channel exists.
struct Mask {
    __m256i ps, lo, hi;  // 8 float lanes; 4 + 4 double lanes
    bool full;           // all 8 channels exist
};
inline Mask tail_mask(int64_t c, int64_t C) {
    const int n = C - c < 8 ? static_cast<int>(C - c) : 8;
    const __m256i ps = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4,
                                                                                  5, 6, 7));
    return {ps, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(ps)),
            _mm256_cvtepi32_epi64(_mm256_extracti128_si256(ps, 1)), n == 8};
}

inline __m256 load(const float* p, const Mask& m) {
    return m.full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m.ps);
}

inline void widen(__m256 v, __m256d* lo, __m256d* hi) {
    *lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    *hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
}

// g at element i: dy, or with Relu dy where relu_y > 0, else 0 (NaN relu_y -> 0), widened.
template <bool Relu>
inline void grad_pd(const float* dy, const float* relu_y, int64_t i, const Mask& m, __m256d* lo,
                    __m256d* hi) {
    __m256 g = load(dy + i, m);
    if (Relu)
        g = _mm256_and_ps(g, _mm256_cmp_ps(load(relu_y + i, m),
                                           _mm256_setzero_ps(), _CMP_GT_OQ));
    widen(g, lo, hi);
}

// Rows [r0, r1) of one unit, channels c..c+7 -> p[j][c..] (j = 0, 1, 2): sum g,
// sum g * (x - mean), sum (x - mean), in double: f (6 vectors) over 64 rows, then into d.
template <bool Relu>
void exact_sums_group(double* const* p, const float* dy, const float* relu_y, const float* x,
                      const float* mean, int64_t C, int64_t c, const Mask& m, int64_t r0,
                      int64_t r1) {
    __m256d mlo, mhi, d[6];
    widen(load(mean + c, m), &mlo, &mhi);
    for (int j = 0; j < 6; j++) d[j] = _mm256_setzero_pd();
    for (int64_t s0 = r0; s0 < r1; s0 += kSub) {
        const int64_t s1 = s0 + kSub < r1 ? s0 + kSub : r1;
        __m256d f[6];
        for (int j = 0; j < 6; j++) f[j] = _mm256_setzero_pd();
        for (int64_t r = s0; r < s1; r++) {
            __m256d glo, ghi, xlo, xhi;
            grad_pd<Relu>(dy, relu_y, r * C + c, m, &glo, &ghi);
            widen(load(x + r * C + c, m), &xlo, &xhi);
            xlo = _mm256_sub_pd(xlo, mlo);  // exact in double
            xhi = _mm256_sub_pd(xhi, mhi);
            f[0] = _mm256_add_pd(f[0], glo);
            f[1] = _mm256_add_pd(f[1], ghi);
            f[2] = _mm256_add_pd(f[2], _mm256_mul_pd(glo, xlo));
            f[3] = _mm256_add_pd(f[3], _mm256_mul_pd(ghi, xhi));
            f[4] = _mm256_add_pd(f[4], xlo);
            f[5] = _mm256_add_pd(f[5], xhi);
        }
        for (int j = 0; j < 6; j++) d[j] = _mm256_add_pd(d[j], f[j]);
    }
    for (int j = 0; j < 3; j++) {
        _mm256_maskstore_pd(p[j] + c, m.lo, d[2 * j]);
        _mm256_maskstore_pd(p[j] + c + 4, m.hi, d[2 * j + 1]);
    }
}

template <bool Relu>
void exact_sums(double* s1, double* s2, double* s3, const float* dy, const float* relu_y,
                const float* x, const float* mean, int64_t M, int64_t C) {
    const int64_t units = (M + kUnit - 1) / kUnit;
    std::vector<double> part(static_cast<size_t>(units * 3 * C));
    // Race-free: unit u writes part[u] only; the units are added below in order, so the sums
    // do not depend on the thread count.
    #pragma omp parallel for schedule(static) num_threads(threads_for(M * C))
    for (int64_t u = 0; u < units; u++) {
        const int64_t r0 = u * kUnit, r_end = (u + 1) * kUnit < M ? (u + 1) * kUnit : M;
        double* pu = part.data() + u * 3 * C;
        double* const p[3] = {pu, pu + C, pu + 2 * C};
        for (int64_t c = 0; c < C; c += 8)
            exact_sums_group<Relu>(p, dy, relu_y, x, mean, C, c, tail_mask(c, C), r0, r_end);
    }
    double* out[3] = {s1, s2, s3};
    for (int j = 0; j < 3; j++)
        for (int64_t c = 0; c < C; c++) out[j][c] = 0.0;
    for (int64_t u = 0; u < units; u++)
        for (int j = 0; j < 3; j++)
            for (int64_t c = 0; c < C; c++) out[j][c] += part[(u * 3 + j) * C + c];
}

// dx (M,C) = float(a * ((g - b) - (x - mm) * k)), evaluated in double (a, b, mm, k: (C) doubles).
template <bool Relu>
void exact_dx(float* dx, const float* dy, const float* relu_y, const float* x, const double* a,
              const double* b, const double* mm, const double* k, int64_t M, int64_t C) {
    const int64_t units = (M + kUnit - 1) / kUnit;
    // Race-free: unit u writes rows [u*kUnit, (u+1)*kUnit) of dx only.
    #pragma omp parallel for schedule(static) num_threads(threads_for(M * C))
    for (int64_t u = 0; u < units; u++) {
        const int64_t r0 = u * kUnit, r1 = (u + 1) * kUnit < M ? (u + 1) * kUnit : M;
        for (int64_t c = 0; c < C; c += 8) {
            const Mask m = tail_mask(c, C);
            const __m256d al = _mm256_maskload_pd(a + c, m.lo);
            const __m256d ah = _mm256_maskload_pd(a + c + 4, m.hi);
            const __m256d bl = _mm256_maskload_pd(b + c, m.lo);
            const __m256d bh = _mm256_maskload_pd(b + c + 4, m.hi);
            const __m256d ul = _mm256_maskload_pd(mm + c, m.lo);
            const __m256d uh = _mm256_maskload_pd(mm + c + 4, m.hi);
            const __m256d kl = _mm256_maskload_pd(k + c, m.lo);
            const __m256d kh = _mm256_maskload_pd(k + c + 4, m.hi);
            for (int64_t r = r0; r < r1; r++) {
                __m256d gl, gh, xl, xh;
                grad_pd<Relu>(dy, relu_y, r * C + c, m, &gl, &gh);
                widen(load(x + r * C + c, m), &xl, &xh);
                const __m256d lo = _mm256_mul_pd(al, _mm256_sub_pd(_mm256_sub_pd(gl, bl),
                                        _mm256_mul_pd(_mm256_sub_pd(xl, ul), kl)));
                const __m256d hi = _mm256_mul_pd(ah, _mm256_sub_pd(_mm256_sub_pd(gh, bh),
                                        _mm256_mul_pd(_mm256_sub_pd(xh, uh), kh)));
                const __m256 v = _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)),
                                                      _mm256_cvtpd_ps(hi), 1);
                if (m.full) _mm256_storeu_ps(dx + r * C + c, v);
                else _mm256_maskstore_ps(dx + r * C + c, m.ps, v);
            }
        }
    }
}

}  // namespace

// dy, relu_y (or nullptr), x (M,C), mean (C) -> s1, s2, s3 (C) in double: batch_norm_backward's
// sum g, sum g * (x - mean), sum (x - mean), bit for bit.
void batch_norm_backward_sums_avx2(double* s1, double* s2, double* s3, const float* dy,
                                   const float* relu_y, const float* x, const float* mean,
                                   int64_t M, int64_t C) {
    if (relu_y) exact_sums<true>(s1, s2, s3, dy, relu_y, x, mean, M, C);
    else exact_sums<false>(s1, s2, s3, dy, nullptr, x, mean, M, C);
}

// dy, relu_y (or nullptr), x (M,C), a, b, mm, k (C) -> dx (M,C): batch_norm_backward's dx.
void batch_norm_backward_dx_avx2(float* dx, const float* dy, const float* relu_y, const float* x,
                                 const double* a, const double* b, const double* mm,
                                 const double* k, int64_t M, int64_t C) {
    if (relu_y) exact_dx<true>(dx, dy, relu_y, x, a, b, mm, k, M, C);
    else exact_dx<false>(dx, dy, nullptr, x, a, b, mm, k, M, C);
}

}  // namespace grebe
