// batchnorm_avx512.cpp — AVX-512 variants of the batch-norm kernels over (M, C) rows (batchnorm.h
// has the contracts; batchnorm.cpp dispatches here when active_isa() is avx512). Built with
// -mavx512f ... (file suffix). Sixteen channels per zmm register; the channel tail (C % 16) uses
// masked loads/stores, so no lane reads or writes past a row. The exact training backward
// (batch_norm_backward's sums and dx, in double) is at the end of the file.
//
// Reductions keep the portable kernels' scheme (fixed 1024-row units summed in unit order, so
// the results do not depend on the thread count): inside a unit, blocks of up to 64 channels
// (4 zmm) and 64-row sub-blocks summed in float over 4 / vectors interleaved row partials (so
// at least 4 independent add chains per term), then a double sum per channel.
// NaN/Inf: only adds, multiplies and FMAs touch the data, so a NaN or Inf in a row reaches its
// channel's sums exactly as in the portable loops.
#include <immintrin.h>

// GCC 12 reports the intrinsics' own undefined pass-through operands (__Y in avx512fintrin.h)
// as (maybe-)uninitialized once they are inlined through the reduction lambdas and the
// float <-> double conversions: a false alarm.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <cstdint>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/runtime.h"

namespace grebe {

namespace {

constexpr int64_t kSub = 64;     // rows summed in float before they join the double sum
constexpr int64_t kUnit = 1024;  // rows per parallel unit (a multiple of kSub)

inline __mmask16 tail_mask(int64_t c, int64_t C) {
    const int64_t n = C - c;
    return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// Adds the 16 float lanes of v (channels c..c+15, mask m) into the doubles at p.
inline void add_to_double(double* p, __m512 v, __mmask16 m) {
    const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    const __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
    const __mmask8 mlo = static_cast<__mmask8>(m & 0xFF), mhi = static_cast<__mmask8>(m >> 8);
    _mm512_mask_storeu_pd(p, mlo, _mm512_add_pd(_mm512_maskz_loadu_pd(mlo, p), lo));
    _mm512_mask_storeu_pd(p + 8, mhi, _mm512_add_pd(_mm512_maskz_loadu_pd(mhi, p + 8), hi));
}

// One block of NV channel vectors (channels c0 .. c0 + 16 * NV, masked at C) over the rows
// [r0, r_end) of a unit: 64-row sub-blocks summed in float with P = 4 / NV interleaved row
// partials per vector (so 4 to 8 independent add chains), the partials added in order, then
// added to the doubles pa/pb. term(r, c, m, &ta, &tb) gives row r's two terms.
template <int NV, typename Term>
void reduce_block(double* pa, double* pb, int64_t c0, int64_t C, int64_t r0, int64_t r_end,
                  const Term& term) {
    constexpr int P = 4 / NV;
    __mmask16 m[NV];
    for (int j = 0; j < NV; j++) m[j] = tail_mask(c0 + 16 * j, C);
    for (int64_t s0 = r0; s0 < r_end; s0 += kSub) {
        const int64_t s1 = s0 + kSub < r_end ? s0 + kSub : r_end;
        __m512 sa[P][NV], sb[P][NV];
        for (int p = 0; p < P; p++)
            for (int j = 0; j < NV; j++) sa[p][j] = sb[p][j] = _mm512_setzero_ps();
        int64_t r = s0;
        for (; r + P <= s1; r += P)
            for (int p = 0; p < P; p++)
                for (int j = 0; j < NV; j++) {
                    __m512 ta, tb;
                    term(r + p, c0 + 16 * j, m[j], &ta, &tb);
                    sa[p][j] = _mm512_add_ps(sa[p][j], ta);
                    sb[p][j] = _mm512_add_ps(sb[p][j], tb);
                }
        for (int p = 0; r < s1; r++, p++)  // fewer than P rows left
            for (int j = 0; j < NV; j++) {
                __m512 ta, tb;
                term(r, c0 + 16 * j, m[j], &ta, &tb);
                sa[p][j] = _mm512_add_ps(sa[p][j], ta);
                sb[p][j] = _mm512_add_ps(sb[p][j], tb);
            }
        for (int j = 0; j < NV; j++) {
            __m512 ta = sa[0][j], tb = sb[0][j];
            for (int p = 1; p < P; p++) {
                ta = _mm512_add_ps(ta, sa[p][j]);
                tb = _mm512_add_ps(tb, sb[p][j]);
            }
            add_to_double(pa + c0 + 16 * j, ta, m[j]);
            add_to_double(pb + c0 + 16 * j, tb, m[j]);
        }
    }
}

// Sums over the rows of (M, C) of two per-element terms, in double: a[c], b[c]. Channels go
// in blocks of 64 (the last block 16, 32 or 48 wide as C needs): blocks depend on C only.
template <typename Term>
void reduce_rows(double* a, double* b, int64_t M, int64_t C, const Term& term) {
    const int64_t units = (M + kUnit - 1) / kUnit;
    std::vector<double> part(static_cast<size_t>(units * 2 * C), 0.0);
    // Race-free: unit u writes part[u] only; the units are added below in order, so the sums
    // do not depend on the thread count.
    #pragma omp parallel for schedule(static) num_threads(threads_for(M * C))
    for (int64_t u = 0; u < units; u++) {
        const int64_t r0 = u * kUnit, r_end = (u + 1) * kUnit < M ? (u + 1) * kUnit : M;
        double* pa = part.data() + u * 2 * C;
        double* pb = pa + C;
        for (int64_t c0 = 0; c0 < C; c0 += 64) {
            const int64_t nv = (C - c0 + 15) / 16;
            if (nv >= 4) reduce_block<4>(pa, pb, c0, C, r0, r_end, term);
            else if (nv == 3) reduce_block<3>(pa, pb, c0, C, r0, r_end, term);
            else if (nv == 2) reduce_block<2>(pa, pb, c0, C, r0, r_end, term);
            else reduce_block<1>(pa, pb, c0, C, r0, r_end, term);
        }
    }
    for (int64_t c = 0; c < C; c++) a[c] = b[c] = 0.0;
    for (int64_t u = 0; u < units; u++)
        for (int64_t c = 0; c < C; c++) {
            a[c] += part[u * 2 * C + c];
            b[c] += part[u * 2 * C + C + c];
        }
}

// Runs rows(r0, r1) over blocks of kUnit rows; each block writes its own rows only.
template <typename Rows>
void for_row_blocks(int64_t M, int64_t C, const Rows& rows) {
    const int64_t units = (M + kUnit - 1) / kUnit;
    // Race-free: block u writes rows [u*kUnit, (u+1)*kUnit) of the output only.
    #pragma omp parallel for schedule(static) num_threads(threads_for(M * C))
    for (int64_t u = 0; u < units; u++)
        rows(u * kUnit, (u + 1) * kUnit < M ? (u + 1) * kUnit : M);
}

inline __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }

}  // namespace

// x (M,C) -> mean (C), var (C): batch_norm_stats (x - x[0] keeps the sums small).
void batch_norm_stats_avx512(float* mean, float* var, const float* x, int64_t M, int64_t C) {
    std::vector<double> s1(C), s2(C);
    reduce_rows(s1.data(), s2.data(), M, C,
                [&](int64_t r, int64_t c, __mmask16 m, __m512* ta, __m512* tb) {
                    const __m512 d = _mm512_sub_ps(load(x + r * C + c, m), load(x + c, m));
                    *ta = d;
                    *tb = _mm512_mul_ps(d, d);
                });
    const double inv_m = 1.0 / static_cast<double>(M);
    for (int64_t c = 0; c < C; c++) {
        const double m1 = s1[c] * inv_m;
        const double v = s2[c] * inv_m - m1 * m1;
        mean[c] = static_cast<float>(x[c] + m1);
        var[c] = static_cast<float>(v < 0.0 ? 0.0 : v);  // rounding below 0 -> 0; NaN kept
    }
}

// x (M,C), scale (C), shift (C) -> y (M,C) = x * scale + shift, then max(y, 0) when relu
// (NaN kept: the constant 0 is max's first operand). y may alias x.
void batch_norm_apply_avx512(float* y, const float* x, const float* scale, const float* shift,
                             int64_t M, int64_t C, bool relu) {
    const __m512 zero = _mm512_setzero_ps();
    for_row_blocks(M, C, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = 0; c < C; c += 16) {  // along the row: contiguous
                const __mmask16 m = tail_mask(c, C);
                __m512 v = _mm512_add_ps(_mm512_mul_ps(load(x + r * C + c, m), load(scale + c, m)),
                                         load(shift + c, m));
                if (relu) v = _mm512_max_ps(zero, v);
                _mm512_mask_storeu_ps(y + r * C + c, m, v);
            }
    });
}

// dy (M,C), x (M,C), mean, inv_std (C) -> dbeta = sum g, dgamma = sum g * (x - mean) * inv_std,
// g = dy, or dy where relu_y > 0 (else 0) when relu_y is given (the gradient through a ReLU
// applied to the normalized output relu_y).
void batch_norm_backward_reduce_avx512(float* dbeta, float* dgamma, const float* dy,
                                       const float* x, const float* mean, const float* inv_std,
                                       const float* relu_y, int64_t M, int64_t C) {
    std::vector<double> s1(C), s2(C);
    const __m512 zero = _mm512_setzero_ps();
    reduce_rows(s1.data(), s2.data(), M, C,
                [&](int64_t r, int64_t c, __mmask16 m, __m512* ta, __m512* tb) {
                    __m512 g = load(dy + r * C + c, m);
                    if (relu_y) {
                        const __mmask16 pos = _mm512_cmp_ps_mask(load(relu_y + r * C + c, m),
                                                                 zero, _CMP_GT_OQ);
                        g = _mm512_maskz_mov_ps(pos, g);
                    }
                    *ta = g;
                    *tb = _mm512_mul_ps(g, _mm512_sub_ps(load(x + r * C + c, m),
                                                         load(mean + c, m)));
                });
    for (int64_t c = 0; c < C; c++) {
        dbeta[c] = static_cast<float>(s1[c]);
        dgamma[c] = static_cast<float>(s2[c] * static_cast<double>(inv_std[c]));
    }
}

// dx (M,C) = a * (g - b - (x - mean) * k) per channel (a, b, k as in batch_norm_backward_data),
// g as in batch_norm_backward_reduce_avx512.
void batch_norm_backward_data_avx512(float* dx, const float* dy, const float* x,
                                     const float* mean, const float* a, const float* b,
                                     const float* k, const float* relu_y, int64_t M, int64_t C) {
    const __m512 zero = _mm512_setzero_ps();
    for_row_blocks(M, C, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = 0; c < C; c += 16) {  // along the row: contiguous
                const __mmask16 m = tail_mask(c, C);
                __m512 g = load(dy + r * C + c, m);
                if (relu_y)
                    g = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(load(relu_y + r * C + c, m), zero,
                                                               _CMP_GT_OQ), g);
                const __m512 xk = _mm512_mul_ps(_mm512_sub_ps(load(x + r * C + c, m),
                                                              load(mean + c, m)), load(k + c, m));
                const __m512 d = _mm512_mul_ps(load(a + c, m),
                                               _mm512_sub_ps(_mm512_sub_ps(g, load(b + c, m)), xk));
                _mm512_mask_storeu_ps(dx + r * C + c, m, d);
            }
    });
}

// ---- batch_norm_backward (exact): its double sums and double dx, per channel in the portable
// kernel's operation order (so the results are the same bits): 16 channels per step, widened to
// two 8-lane double vectors; 64-row sub-sums joining the unit sum, units added in order.

namespace {

// The 16 floats at p (mask m) as two double vectors (channels 0-7 and 8-15).
inline void load_pd(const float* p, __mmask16 m, __m512d* lo, __m512d* hi) {
    const __m512 v = _mm512_maskz_loadu_ps(m, p);
    *lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    *hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
}

// g at element i: dy, or with Relu dy where relu_y > 0, else 0 (relu'(0) = 0; NaN relu_y -> 0,
// as the portable bit mask).
template <bool Relu>
inline void grad_pd(const float* dy, const float* relu_y, int64_t i, __mmask16 m, __m512d* lo,
                    __m512d* hi) {
    __m512 g = _mm512_maskz_loadu_ps(m, dy + i);
    if (Relu)
        g = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(m, relu_y + i),
                                                   _mm512_setzero_ps(), _CMP_GT_OQ), g);
    *lo = _mm512_cvtps_pd(_mm512_castps512_ps256(g));
    *hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(g, 1));
}

// Rows [r0, r1) of one unit, channels c..c+15 (mask m) -> p[j][c..] (j = 0, 1, 2): sum g,
// sum g * (x - mean), sum (x - mean), each in double: f (6 vectors) over 64 rows, then into d.
template <bool Relu>
void exact_sums_group(double* const* p, const float* dy, const float* relu_y, const float* x,
                      const float* mean, int64_t C, int64_t c, __mmask16 m, int64_t r0,
                      int64_t r1) {
    __m512d mlo, mhi, d[6];
    load_pd(mean + c, m, &mlo, &mhi);
    for (int j = 0; j < 6; j++) d[j] = _mm512_setzero_pd();
    for (int64_t s0 = r0; s0 < r1; s0 += kSub) {
        const int64_t s1 = s0 + kSub < r1 ? s0 + kSub : r1;
        __m512d f[6];
        for (int j = 0; j < 6; j++) f[j] = _mm512_setzero_pd();
        for (int64_t r = s0; r < s1; r++) {
            __m512d glo, ghi, xlo, xhi;
            grad_pd<Relu>(dy, relu_y, r * C + c, m, &glo, &ghi);
            load_pd(x + r * C + c, m, &xlo, &xhi);
            xlo = _mm512_sub_pd(xlo, mlo);  // exact in double
            xhi = _mm512_sub_pd(xhi, mhi);
            f[0] = _mm512_add_pd(f[0], glo);
            f[1] = _mm512_add_pd(f[1], ghi);
            f[2] = _mm512_add_pd(f[2], _mm512_mul_pd(glo, xlo));
            f[3] = _mm512_add_pd(f[3], _mm512_mul_pd(ghi, xhi));
            f[4] = _mm512_add_pd(f[4], xlo);
            f[5] = _mm512_add_pd(f[5], xhi);
        }
        for (int j = 0; j < 6; j++) d[j] = _mm512_add_pd(d[j], f[j]);
    }
    const __mmask8 mlo8 = static_cast<__mmask8>(m & 0xFF), mhi8 = static_cast<__mmask8>(m >> 8);
    for (int j = 0; j < 3; j++) {
        _mm512_mask_storeu_pd(p[j] + c, mlo8, d[2 * j]);
        _mm512_mask_storeu_pd(p[j] + c + 8, mhi8, d[2 * j + 1]);
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
        for (int64_t c = 0; c < C; c += 16)
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
    for_row_blocks(M, C, [&](int64_t r0, int64_t r1) {
        for (int64_t c = 0; c < C; c += 16) {
            const __mmask16 m = tail_mask(c, C);
            const __mmask8 ml = static_cast<__mmask8>(m & 0xFF), mh = static_cast<__mmask8>(m >> 8);
            const __m512d al = _mm512_maskz_loadu_pd(ml, a + c);
            const __m512d bl = _mm512_maskz_loadu_pd(ml, b + c);
            const __m512d ul = _mm512_maskz_loadu_pd(ml, mm + c);
            const __m512d kl = _mm512_maskz_loadu_pd(ml, k + c);
            const __m512d ah = _mm512_maskz_loadu_pd(mh, a + c + 8);
            const __m512d bh = _mm512_maskz_loadu_pd(mh, b + c + 8);
            const __m512d uh = _mm512_maskz_loadu_pd(mh, mm + c + 8);
            const __m512d kh = _mm512_maskz_loadu_pd(mh, k + c + 8);
            for (int64_t r = r0; r < r1; r++) {
                __m512d gl, gh, xl, xh;
                grad_pd<Relu>(dy, relu_y, r * C + c, m, &gl, &gh);
                load_pd(x + r * C + c, m, &xl, &xh);
                const __m512d lo = _mm512_mul_pd(al, _mm512_sub_pd(_mm512_sub_pd(gl, bl),
                                        _mm512_mul_pd(_mm512_sub_pd(xl, ul), kl)));
                const __m512d hi = _mm512_mul_pd(ah, _mm512_sub_pd(_mm512_sub_pd(gh, bh),
                                        _mm512_mul_pd(_mm512_sub_pd(xh, uh), kh)));
                const __m512 v = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)),
                                                    _mm512_cvtpd_ps(hi), 1);
                _mm512_mask_storeu_ps(dx + r * C + c, m, v);
            }
        }
    });
}

}  // namespace

// dy, relu_y (or nullptr), x (M,C), mean (C) -> s1, s2, s3 (C) in double: batch_norm_backward's
// sum g, sum g * (x - mean), sum (x - mean), bit for bit.
void batch_norm_backward_sums_avx512(double* s1, double* s2, double* s3, const float* dy,
                                     const float* relu_y, const float* x, const float* mean,
                                     int64_t M, int64_t C) {
    if (relu_y) exact_sums<true>(s1, s2, s3, dy, relu_y, x, mean, M, C);
    else exact_sums<false>(s1, s2, s3, dy, nullptr, x, mean, M, C);
}

// dy, relu_y (or nullptr), x (M,C), a, b, mm, k (C) -> dx (M,C): batch_norm_backward's dx.
void batch_norm_backward_dx_avx512(float* dx, const float* dy, const float* relu_y,
                                   const float* x, const double* a, const double* b,
                                   const double* mm, const double* k, int64_t M, int64_t C) {
    if (relu_y) exact_dx<true>(dx, dy, relu_y, x, a, b, mm, k, M, C);
    else exact_dx<false>(dx, dy, nullptr, x, a, b, mm, k, M, C);
}

}  // namespace grebe
