// batchnorm.cpp — batch normalization kernels over (M, C) rows (see batchnorm.h). Portable C++:
// every loop runs over contiguous channels and vectorizes; the work is memory bound.
#include "kernels/batchnorm.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/runtime.h"

namespace grebe {

// AVX-512 variants (batchnorm_avx512.cpp); relu / relu_y select the fused ReLU forms.
void batch_norm_stats_avx512(float* mean, float* var, const float* x, int64_t M, int64_t C);
void batch_norm_apply_avx512(float* y, const float* x, const float* scale, const float* shift,
                             int64_t M, int64_t C, bool relu);
void batch_norm_backward_reduce_avx512(float* dbeta, float* dgamma, const float* dy,
                                       const float* x, const float* mean, const float* inv_std,
                                       const float* relu_y, int64_t M, int64_t C);
void batch_norm_backward_data_avx512(float* dx, const float* dy, const float* x,
                                     const float* mean, const float* a, const float* b,
                                     const float* k, const float* relu_y, int64_t M, int64_t C);
void batch_norm_backward_sums_avx512(double* s1, double* s2, double* s3, const float* dy,
                                     const float* relu_y, const float* x, const float* mean,
                                     int64_t M, int64_t C);
void batch_norm_backward_dx_avx512(float* dx, const float* dy, const float* relu_y,
                                   const float* x, const double* a, const double* b,
                                   const double* mm, const double* k, int64_t M, int64_t C);
// The same for AVX2 (batchnorm_avx2.cpp).
void batch_norm_backward_sums_avx2(double* s1, double* s2, double* s3, const float* dy,
                                   const float* relu_y, const float* x, const float* mean,
                                   int64_t M, int64_t C);
void batch_norm_backward_dx_avx2(float* dx, const float* dy, const float* relu_y, const float* x,
                                 const double* a, const double* b, const double* mm,
                                 const double* k, int64_t M, int64_t C);

namespace {

bool use_avx512() { return active_isa() == Isa::avx512; }

constexpr int64_t kSub = 64;     // rows summed in float before they join the double sum
constexpr int64_t kUnit = 1024;  // rows per parallel unit (a multiple of kSub)
constexpr int64_t kBlock = 64;   // channels per block (the float accumulators stay in L1)

// Per-unit partial sums of NS per-element terms, then their totals in unit order:
// out[j][c] = sum_m f_j(m, c) in double. term(r, c0, cn, s) adds row r's terms for channels
// c0..c0+cn-1 into the accumulators s[j][0..cn) (Acc: float, or double where the sums must be
// exact, see batch_norm_backward), which join the double sum every kSub rows.
template <int NS, typename Acc, typename Term>
void reduce_rows_n(double* const* out, int64_t M, int64_t C, const Term& term) {
    const int64_t units = (M + kUnit - 1) / kUnit;
    std::vector<double> part(static_cast<size_t>(units * NS * C));
    // Race-free: unit u writes part[u] only; the units are added below in order, so the sums
    // do not depend on the thread count.
    #pragma omp parallel for schedule(static) num_threads(threads_for(M * C))
    for (int64_t u = 0; u < units; u++) {
        const int64_t r_end = (u + 1) * kUnit < M ? (u + 1) * kUnit : M;
        double* pu = part.data() + u * NS * C;
        for (int64_t c0 = 0; c0 < C; c0 += kBlock) {
            const int64_t cn = C - c0 < kBlock ? C - c0 : kBlock;
            double d[NS][kBlock] = {};
            for (int64_t r0 = u * kUnit; r0 < r_end; r0 += kSub) {
                Acc sf[NS][kBlock] = {};
                const int64_t r1 = r0 + kSub < r_end ? r0 + kSub : r_end;
                for (int64_t r = r0; r < r1; r++) term(r, c0, cn, sf);
                for (int j = 0; j < NS; j++)
                    for (int64_t c = 0; c < cn; c++) d[j][c] += sf[j][c];
            }
            for (int j = 0; j < NS; j++)
                for (int64_t c = 0; c < cn; c++) pu[j * C + c0 + c] = d[j][c];
        }
    }
    for (int j = 0; j < NS; j++)
        for (int64_t c = 0; c < C; c++) out[j][c] = 0.0;
    for (int64_t u = 0; u < units; u++)
        for (int j = 0; j < NS; j++)
            for (int64_t c = 0; c < C; c++) out[j][c] += part[(u * NS + j) * C + c];
}

// The two-term form: a[c] = sum_m fa(m, c), b[c] = sum_m fb(m, c); term(r, c0, cn, sa, sb).
template <typename Term>
void reduce_rows(double* a, double* b, int64_t M, int64_t C, const Term& term) {
    double* out[2] = {a, b};
    reduce_rows_n<2, float>(out, M, C, [&](int64_t r, int64_t c0, int64_t cn, float (*s)[kBlock]) {
        term(r, c0, cn, s[0], s[1]);
    });
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

}  // namespace

void batch_norm_stats(float* mean, float* var, const float* x, int64_t M, int64_t C) {
    if (use_avx512()) return batch_norm_stats_avx512(mean, var, x, M, C);
    // x - x[0] keeps the sums small; d = x - shift, var = E[d^2] - E[d]^2.
    std::vector<float> shift(x, x + C);
    std::vector<double> s1(C), s2(C);
    const float* k = shift.data();
    reduce_rows(s1.data(), s2.data(), M, C,
                [&](int64_t r, int64_t c0, int64_t cn, float* sa, float* sb) {
                    const float* xr = x + r * C + c0;
                    for (int64_t c = 0; c < cn; c++) {
                        const float d = xr[c] - k[c0 + c];
                        sa[c] += d;
                        sb[c] += d * d;
                    }
                });
    const double inv_m = 1.0 / static_cast<double>(M);
    for (int64_t c = 0; c < C; c++) {
        const double m1 = s1[c] * inv_m;
        const double v = s2[c] * inv_m - m1 * m1;
        mean[c] = static_cast<float>(k[c] + m1);
        var[c] = static_cast<float>(v < 0.0 ? 0.0 : v);  // rounding below 0 -> 0; NaN kept
    }
}

void batch_norm_apply(float* y, const float* x, const float* scale, const float* shift,
                      int64_t M, int64_t C) {
    if (use_avx512()) return batch_norm_apply_avx512(y, x, scale, shift, M, C, false);
    for_row_blocks(M, C, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; r++) {
            const float* xr = x + r * C;
            float* yr = y + r * C;
            for (int64_t c = 0; c < C; c++) yr[c] = xr[c] * scale[c] + shift[c];
        }
    });
}

void batch_norm_backward_reduce(float* dbeta, float* dgamma, const float* dy, const float* x,
                                const float* mean, const float* inv_std, int64_t M, int64_t C) {
    if (use_avx512())
        return batch_norm_backward_reduce_avx512(dbeta, dgamma, dy, x, mean, inv_std, nullptr,
                                                 M, C);
    std::vector<double> s1(C), s2(C);
    reduce_rows(s1.data(), s2.data(), M, C,
                [&](int64_t r, int64_t c0, int64_t cn, float* sa, float* sb) {
                    const float* g = dy + r * C + c0;
                    const float* xr = x + r * C + c0;
                    const float* m = mean + c0;
                    for (int64_t c = 0; c < cn; c++) {
                        sa[c] += g[c];
                        sb[c] += g[c] * (xr[c] - m[c]);
                    }
                });
    for (int64_t c = 0; c < C; c++) {
        dbeta[c] = static_cast<float>(s1[c]);
        dgamma[c] = static_cast<float>(s2[c] * static_cast<double>(inv_std[c]));
    }
}

void batch_norm_backward_data(float* dx, const float* dy, const float* x, const float* mean,
                              const float* inv_std, const float* gamma, const float* dbeta,
                              const float* dgamma, int64_t M, int64_t C) {
    // dx = a * (dy - b - (x - mean) * k), a = gamma * inv_std, b = dbeta / M,
    // k = dgamma * inv_std / M (xhat * dgamma / M with xhat = (x - mean) * inv_std).
    std::vector<float> a(C), b(C), k(C);
    const float inv_m = 1.0f / static_cast<float>(M);
    for (int64_t c = 0; c < C; c++) {
        a[c] = (gamma ? gamma[c] : 1.0f) * inv_std[c];
        b[c] = dbeta[c] * inv_m;
        k[c] = dgamma[c] * inv_std[c] * inv_m;
    }
    if (use_avx512())
        return batch_norm_backward_data_avx512(dx, dy, x, mean, a.data(), b.data(), k.data(),
                                               nullptr, M, C);
    for_row_blocks(M, C, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; r++) {
            const float* g = dy + r * C;
            const float* xr = x + r * C;
            float* d = dx + r * C;
            for (int64_t c = 0; c < C; c++)
                d[c] = a[c] * (g[c] - b[c] - (xr[c] - mean[c]) * k[c]);
        }
    });
}

namespace {

// relu_y > 0 ? g : 0, as a bit mask (branch-free, so the loops around it vectorize).
inline float relu_grad(float g, float relu_y) {
    uint32_t bits;
    std::memcpy(&bits, &g, 4);
    bits &= 0u - static_cast<uint32_t>(relu_y > 0.0f);
    float out;
    std::memcpy(&out, &bits, 4);
    return out;
}

// batch_norm_backward with the ReLU mask (Relu: g = dy where relu_y > 0, else 0) or without,
// as separate instantiations so that each inner loop is branch-free and vectorizes.
template <bool Relu>
void backward_exact(float* dx, float* dbeta, float* dgamma, const float* dy, const float* relu_y,
                    const float* x, const float* mean, const float* inv_std, const float* gamma,
                    int64_t M, int64_t C) {
    // Sums in double, term by term (float partial sums would err by ~1e-7 of their running
    // size, a systematic offset of dx's column sums): s1 = sum g, s2 = sum g * (x - mean),
    // s3 = sum (x - mean), the float mean's rounding residual times M.
    std::vector<double> s1(C), s2(C), s3(C);
    double* out[3] = {s1.data(), s2.data(), s3.data()};
    if (use_avx512())  // the same sums, bit for bit, 16 (AVX-512) or 8 (AVX2) channels a step
        batch_norm_backward_sums_avx512(out[0], out[1], out[2], dy, relu_y, x, mean, M, C);
    else if (active_isa() == Isa::avx2)
        batch_norm_backward_sums_avx2(out[0], out[1], out[2], dy, relu_y, x, mean, M, C);
    else
        reduce_rows_n<3, double>(out, M, C,
                             [&](int64_t r, int64_t c0, int64_t cn, double (*s)[kBlock]) {
        const float* g = dy + r * C + c0;
        const float* yr = Relu ? relu_y + r * C + c0 : nullptr;
        const float* xr = x + r * C + c0;
        const float* m = mean + c0;
        for (int64_t c = 0; c < cn; c++) {
            const double xc = static_cast<double>(xr[c]) - m[c];  // exact
            const float gc = Relu ? relu_grad(g[c], yr[c]) : g[c];  // relu'(0) = 0
            s[0][c] += gc;
            s[1][c] += gc * xc;
            s[2][c] += xc;
        }
    });
    for (int64_t c = 0; c < C; c++) {
        dbeta[c] = static_cast<float>(s1[c]);
        dgamma[c] = static_cast<float>(s2[c] * static_cast<double>(inv_std[c]));
    }
    if (!dx) return;
    // dx = a * ((g - b) - (x - mean - d) * k) with b = sum g / M, d = sum (x - mean) / M, each
    // element evaluated in double and rounded once: the exact values sum to 0 per channel, so
    // dx's column sums are only its elements' independent final roundings (~sqrt(M) * 2^-25 |dx|).
    // In float, b and the float mean's residual d would round away element by element, leaving
    // a systematic sum M * (b - fl(b)) + k * sum (x - mean) that a conv bias in front (whose
    // true gradient, the column sum, is 0) learns from.
    std::vector<double> a(C), b(C), m(C), k(C);
    const double inv_m = 1.0 / static_cast<double>(M);
    for (int64_t c = 0; c < C; c++) {
        a[c] = (gamma ? static_cast<double>(gamma[c]) : 1.0) * inv_std[c];
        b[c] = s1[c] * inv_m;
        m[c] = static_cast<double>(mean[c]) + s3[c] * inv_m;
        k[c] = s2[c] * static_cast<double>(inv_std[c]) * inv_std[c] * inv_m;
    }
    if (use_avx512())  // the same dx, bit for bit
        return batch_norm_backward_dx_avx512(dx, dy, relu_y, x, a.data(), b.data(), m.data(),
                                             k.data(), M, C);
    if (active_isa() == Isa::avx2)
        return batch_norm_backward_dx_avx2(dx, dy, relu_y, x, a.data(), b.data(), m.data(),
                                           k.data(), M, C);
    for_row_blocks(M, C, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; r++) {
            const float* g = dy + r * C;
            const float* yr = Relu ? relu_y + r * C : nullptr;
            const float* xr = x + r * C;
            float* o = dx + r * C;
            for (int64_t c = 0; c < C; c++) {
                const float gc = Relu ? relu_grad(g[c], yr[c]) : g[c];
                o[c] = static_cast<float>(a[c] * ((gc - b[c]) - (xr[c] - m[c]) * k[c]));
            }
        }
    });
}

}  // namespace

void batch_norm_backward(float* dx, float* dbeta, float* dgamma, const float* dy,
                         const float* relu_y, const float* x, const float* mean,
                         const float* inv_std, const float* gamma, int64_t M, int64_t C) {
    if (relu_y)
        backward_exact<true>(dx, dbeta, dgamma, dy, relu_y, x, mean, inv_std, gamma, M, C);
    else
        backward_exact<false>(dx, dbeta, dgamma, dy, nullptr, x, mean, inv_std, gamma, M, C);
}

// ---- batch norm + ReLU ---------------------------------------------------------------------

void batch_norm_apply_relu(float* y, const float* x, const float* scale, const float* shift,
                           int64_t M, int64_t C) {
    if (use_avx512()) return batch_norm_apply_avx512(y, x, scale, shift, M, C, true);
    for_row_blocks(M, C, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; r++) {
            const float* xr = x + r * C;
            float* yr = y + r * C;
            for (int64_t c = 0; c < C; c++) {
                const float v = xr[c] * scale[c] + shift[c];
                yr[c] = v < 0.0f ? 0.0f : v;  // NaN kept (the relu kernel's rule)
            }
        }
    });
}

}  // namespace grebe
