// optim.cpp — fused optimizer updates: one pass over each parameter tensor, no temporaries.
// The formulas are Keras 3's (see optim.h). Elementwise work is split into fixed chunks that
// threads share out; each element's result depends only on its own inputs, so any thread count
// gives the same bits. On AVX-512 CPUs optim_avx512.cpp's bodies run each range (the same
// operations in the same order: the same bits). Loops with a square root use SSE explicitly,
// because -fmath-errno keeps the compiler from vectorizing std::sqrt; sqrtps/divps round like
// their scalar forms, so vector body and scalar tail agree bit for bit.
#include "kernels/optim.h"

#include <algorithm>
#include <cmath>

#include "kernels/runtime.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace grebe {

// AVX-512 bodies over an element range (optim_avx512.cpp); bit-identical to the loops here.
void sgd_range_avx512(float* w, const float* g, int64_t b, int64_t e, float lr, GradPrep prep,
                      bool plain);
void sgd_momentum_range_avx512(float* w, float* mo, const float* g, int64_t b, int64_t e,
                               float lr, float momentum, bool nesterov, GradPrep prep);
void adam_range_avx512(float* w, float* mo, float* v, float* vhat, const float* g, int64_t b,
                       int64_t e, float lr, float alpha, float beta1, float beta2, float eps,
                       GradPrep prep);
void rmsprop_range_avx512(float* w, float* v, float* mom, float* avg, const float* g, int64_t b,
                          int64_t e, float lr, float rho, float momentum, float eps,
                          GradPrep prep);
void adagrad_range_avx512(float* w, float* acc, const float* g, int64_t b, int64_t e, float lr,
                          float eps, GradPrep prep);
// sum(x*x) over [b, e) in double, in a fixed lane order (not the loop's: rounds differently).
double sum_squares_range_avx512(const float* x, int64_t b, int64_t e);

namespace {

constexpr int64_t kChunk = 16384;

bool use_avx512() { return active_isa() == Isa::avx512; }

// Calls body(begin, end) over [0, n): serially when the work is small, else over fixed chunks
// shared by the threads. Chunks never overlap, so no two threads write the same element.
template <class Body>
void for_chunks(int64_t n, int64_t ops_per_elem, Body body) {
    const int nt = threads_for(n * ops_per_elem);
    if (nt <= 1) {
        body(int64_t(0), n);
        return;
    }
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    #pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < chunks; c++) body(c * kChunk, std::min(n, (c + 1) * kChunk));
}

inline float prep_grad(float g, const GradPrep& p) {
    g = g * p.gscale;
    if (p.clip > 0.0f) g = std::min(std::max(g, -p.clip), p.clip);
    return g;
}

inline float decay(float w, float lr, const GradPrep& p) { return w - (w * p.wd) * lr; }

#if defined(__SSE2__)
inline __m128 prep_grad4(__m128 g, const GradPrep& p) {
    g = _mm_mul_ps(g, _mm_set1_ps(p.gscale));
    if (p.clip > 0.0f)
        // The bound first: minps/maxps return their second operand when unordered, so a NaN
        // gradient stays NaN as in the scalar std::min/std::max form.
        g = _mm_min_ps(_mm_set1_ps(p.clip), _mm_max_ps(_mm_set1_ps(-p.clip), g));
    return g;
}
inline __m128 decay4(__m128 w, float lr, const GradPrep& p) {
    return _mm_sub_ps(w, _mm_mul_ps(_mm_mul_ps(w, _mm_set1_ps(p.wd)), _mm_set1_ps(lr)));
}
#endif

}  // namespace

// w (n) -= lr * g.
void sgd_update(float* w, const float* g, int64_t n, float lr, GradPrep prep) {
    const bool plain = prep.gscale == 1.0f && prep.clip <= 0.0f && prep.wd == 0.0f;
    const bool v512 = use_avx512();
    for_chunks(n, 2, [=](int64_t b, int64_t e) {
        if (v512) return sgd_range_avx512(w, g, b, e, lr, prep, plain);
        float* __restrict wp = w;
        const float* __restrict gp = g;
        if (plain) {
            for (int64_t i = b; i < e; i++) wp[i] = wp[i] - gp[i] * lr;
        } else {
            for (int64_t i = b; i < e; i++)
                wp[i] = decay(wp[i], lr, prep) - prep_grad(gp[i], prep) * lr;
        }
    });
}

// m (n) = momentum * m - lr * g; w += m (or the Nesterov form).
void sgd_momentum_update(float* w, float* m, const float* g, int64_t n, float lr,
                         float momentum, bool nesterov, GradPrep prep) {
    const bool v512 = use_avx512();
    for_chunks(n, 4, [=](int64_t b, int64_t e) {
        if (v512) return sgd_momentum_range_avx512(w, m, g, b, e, lr, momentum, nesterov, prep);
        float* __restrict wp = w;
        float* __restrict mp = m;
        const float* __restrict gp = g;
        for (int64_t i = b; i < e; i++) {
            const float gi = prep_grad(gp[i], prep);
            const float wi = decay(wp[i], lr, prep);
            const float mi = mp[i] * momentum - gi * lr;
            mp[i] = mi;
            wp[i] = nesterov ? wi + (mi * momentum - gi * lr) : wi + mi;
        }
    });
}

// Adam / AdamW / AMSGrad, Keras 3 form (see optim.h).
void adam_update(float* w, float* m, float* v, float* vhat, const float* g, int64_t n,
                 float lr, float alpha, float beta1, float beta2, float eps, GradPrep prep) {
    const float c1 = 1.0f - beta1, c2 = 1.0f - beta2;
    const bool v512 = use_avx512();
    for_chunks(n, 8, [=](int64_t b, int64_t e) {
        if (v512)
            return adam_range_avx512(w, m, v, vhat, g, b, e, lr, alpha, beta1, beta2, eps, prep);
        float* __restrict wp = w;
        float* __restrict mp = m;
        float* __restrict vp = v;
        float* __restrict hp = vhat;
        const float* __restrict gp = g;
        int64_t i = b;
#if defined(__SSE2__)
        const __m128 c1v = _mm_set1_ps(c1), c2v = _mm_set1_ps(c2);
        const __m128 av = _mm_set1_ps(alpha), ev = _mm_set1_ps(eps);
        for (; i + 4 <= e; i += 4) {
            const __m128 gi = prep_grad4(_mm_loadu_ps(gp + i), prep);
            const __m128 wi = decay4(_mm_loadu_ps(wp + i), lr, prep);
            __m128 mi = _mm_loadu_ps(mp + i), vi = _mm_loadu_ps(vp + i);
            mi = _mm_add_ps(mi, _mm_mul_ps(_mm_sub_ps(gi, mi), c1v));
            vi = _mm_add_ps(vi, _mm_mul_ps(_mm_sub_ps(_mm_mul_ps(gi, gi), vi), c2v));
            _mm_storeu_ps(mp + i, mi);
            _mm_storeu_ps(vp + i, vi);
            if (hp) {
                vi = _mm_max_ps(_mm_loadu_ps(hp + i), vi);
                _mm_storeu_ps(hp + i, vi);
            }
            const __m128 step = _mm_div_ps(_mm_mul_ps(mi, av), _mm_add_ps(_mm_sqrt_ps(vi), ev));
            _mm_storeu_ps(wp + i, _mm_sub_ps(wi, step));
        }
#endif
        for (; i < e; i++) {
            const float gi = prep_grad(gp[i], prep);
            const float wi = decay(wp[i], lr, prep);
            const float mi = mp[i] + (gi - mp[i]) * c1;
            float vi = vp[i] + (gi * gi - vp[i]) * c2;
            mp[i] = mi;
            vp[i] = vi;
            if (hp) {
                vi = hp[i] > vi ? hp[i] : vi;  // as maxps(hp, vi): a NaN v wins
                hp[i] = vi;
            }
            wp[i] = wi - (mi * alpha) / (std::sqrt(vi) + eps);
        }
    });
}

// RMSprop, Keras 3 form: the epsilon sits inside the square root.
void rmsprop_update(float* w, float* v, float* mom, float* avg, const float* g, int64_t n,
                    float lr, float rho, float momentum, float eps, GradPrep prep) {
    const float c = 1.0f - rho;
    const bool v512 = use_avx512();
    for_chunks(n, 8, [=](int64_t b, int64_t e) {
        if (v512)
            return rmsprop_range_avx512(w, v, mom, avg, g, b, e, lr, rho, momentum, eps, prep);
        float* __restrict wp = w;
        float* __restrict vp = v;
        float* __restrict mp = mom;
        float* __restrict ap = avg;
        const float* __restrict gp = g;
        int64_t i = b;
#if defined(__SSE2__)
        const __m128 rv = _mm_set1_ps(rho), cv = _mm_set1_ps(c), ev = _mm_set1_ps(eps);
        const __m128 lv = _mm_set1_ps(lr), mv = _mm_set1_ps(momentum);
        for (; i + 4 <= e; i += 4) {
            const __m128 gi = prep_grad4(_mm_loadu_ps(gp + i), prep);
            const __m128 wi = decay4(_mm_loadu_ps(wp + i), lr, prep);
            const __m128 vi = _mm_add_ps(_mm_mul_ps(rv, _mm_loadu_ps(vp + i)),
                                         _mm_mul_ps(cv, _mm_mul_ps(gi, gi)));
            _mm_storeu_ps(vp + i, vi);
            __m128 den;
            if (ap) {
                const __m128 ai = _mm_add_ps(_mm_mul_ps(rv, _mm_loadu_ps(ap + i)),
                                             _mm_mul_ps(cv, gi));
                _mm_storeu_ps(ap + i, ai);
                den = _mm_add_ps(_mm_sub_ps(vi, _mm_mul_ps(ai, ai)), ev);
            } else {
                den = _mm_add_ps(vi, ev);
            }
            __m128 inc = _mm_div_ps(_mm_mul_ps(lv, gi), _mm_sqrt_ps(den));
            if (mp) {
                inc = _mm_add_ps(_mm_mul_ps(mv, _mm_loadu_ps(mp + i)), inc);
                _mm_storeu_ps(mp + i, inc);
            }
            _mm_storeu_ps(wp + i, _mm_sub_ps(wi, inc));
        }
#endif
        for (; i < e; i++) {
            const float gi = prep_grad(gp[i], prep);
            const float wi = decay(wp[i], lr, prep);
            const float vi = rho * vp[i] + c * (gi * gi);
            vp[i] = vi;
            float den;
            if (ap) {
                const float ai = rho * ap[i] + c * gi;
                ap[i] = ai;
                den = (vi - ai * ai) + eps;
            } else {
                den = vi + eps;
            }
            float inc = (lr * gi) / std::sqrt(den);
            if (mp) {
                inc = momentum * mp[i] + inc;
                mp[i] = inc;
            }
            wp[i] = wi - inc;
        }
    });
}

// Adagrad, Keras 3 form: w -= lr * g / sqrt(acc + eps).
void adagrad_update(float* w, float* acc, const float* g, int64_t n, float lr, float eps,
                    GradPrep prep) {
    const bool v512 = use_avx512();
    for_chunks(n, 6, [=](int64_t b, int64_t e) {
        if (v512) return adagrad_range_avx512(w, acc, g, b, e, lr, eps, prep);
        float* __restrict wp = w;
        float* __restrict cp = acc;
        const float* __restrict gp = g;
        int64_t i = b;
#if defined(__SSE2__)
        const __m128 lv = _mm_set1_ps(lr), ev = _mm_set1_ps(eps);
        for (; i + 4 <= e; i += 4) {
            const __m128 gi = prep_grad4(_mm_loadu_ps(gp + i), prep);
            const __m128 wi = decay4(_mm_loadu_ps(wp + i), lr, prep);
            const __m128 ci = _mm_add_ps(_mm_loadu_ps(cp + i), _mm_mul_ps(gi, gi));
            _mm_storeu_ps(cp + i, ci);
            const __m128 step = _mm_div_ps(_mm_mul_ps(lv, gi), _mm_sqrt_ps(_mm_add_ps(ci, ev)));
            _mm_storeu_ps(wp + i, _mm_sub_ps(wi, step));
        }
#endif
        for (; i < e; i++) {
            const float gi = prep_grad(gp[i], prep);
            const float wi = decay(wp[i], lr, prep);
            const float ci = cp[i] + gi * gi;
            cp[i] = ci;
            wp[i] = wi - (lr * gi) / std::sqrt(ci + eps);
        }
    });
}

// sum(x*x), double accumulation over fixed chunks added in chunk order. Under AVX-512 each
// chunk is summed in a fixed 32-lane pattern (optim_avx512.cpp): deterministic and
// thread-count independent, but not the portable loop's bits (a reordered double sum).
double sum_squares(const float* x, int64_t n) {
    constexpr int64_t kSumChunk = 4096;
    const bool v512 = use_avx512();
    const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
    if (chunks == 0) return 0.0;
    double* partial = new double[chunks];
    // Each chunk's partial sum has one writer; the chunk partials are added in order below.
    #pragma omp parallel for if (threads_for(n) > 1) num_threads(threads_for(n)) schedule(static)
    for (int64_t c = 0; c < chunks; c++) {
        const int64_t b = c * kSumChunk, e = std::min(n, b + kSumChunk);
        if (v512) {
            partial[c] = sum_squares_range_avx512(x, b, e);
            continue;
        }
        double s = 0.0;
        for (int64_t i = b; i < e; i++) s += static_cast<double>(x[i]) * x[i];
        partial[c] = s;
    }
    double total = 0.0;
    for (int64_t c = 0; c < chunks; c++) total += partial[c];
    delete[] partial;
    return total;
}

}  // namespace grebe
