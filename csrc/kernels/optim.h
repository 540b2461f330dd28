// optim.h — fused optimizer updates (Keras 3 formulas), one pass over each parameter tensor.
// Legend: n elements; w weights, g gradient, m/v/... optimizer slots of n floats; all updated in
// place. Every update first prepares the gradient and decays the weight, as Keras 3 does:
//   g <- clip(g * gscale, -clip, clip)    (gscale: clip-by-norm / loss scale; clip <= 0: none)
//   w <- w - (w * wd) * lr                (decoupled weight decay; wd == 0: none)
// Elementwise, so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace grebe {

// The gradient preparation and weight decay shared by every update.
struct GradPrep {
    float gscale = 1.0f;  // multiplies g first
    float clip = 0.0f;    // > 0: clamps g to [-clip, clip]
    float wd = 0.0f;      // decoupled weight decay (multiplied by lr)
};

// w (n) -= lr * g.
void sgd_update(float* w, const float* g, int64_t n, float lr, GradPrep prep);

// m (n) = momentum * m - lr * g; w += m, or with nesterov w += momentum * m - lr * g.
void sgd_momentum_update(float* w, float* m, const float* g, int64_t n, float lr,
                         float momentum, bool nesterov, GradPrep prep);

// m += (g - m) * (1 - beta1); v += (g*g - v) * (1 - beta2); vhat = max(vhat, v) when amsgrad
// (vhat != nullptr); w -= (m * alpha) / (sqrt(v or vhat) + eps), where the caller passes the
// bias-corrected alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t). lr is only for weight decay.
void adam_update(float* w, float* m, float* v, float* vhat, const float* g, int64_t n,
                 float lr, float alpha, float beta1, float beta2, float eps, GradPrep prep);

// v = rho * v + (1 - rho) * g*g; centered: a = rho * a + (1 - rho) * g, den = v - a*a + eps,
// else den = v + eps; inc = lr * g / sqrt(den); with momentum (mom != nullptr):
// mom = momentum * mom + inc, w -= mom; else w -= inc.
void rmsprop_update(float* w, float* v, float* mom, float* avg, const float* g, int64_t n,
                    float lr, float rho, float momentum, float eps, GradPrep prep);

// acc += g*g; w -= lr * g / sqrt(acc + eps).
void adagrad_update(float* w, float* acc, const float* g, int64_t n, float lr, float eps,
                    GradPrep prep);

// sum(x*x) in double over fixed 4096-element chunks added in order: the same bits for any
// thread count (for clip-by-norm and global norms).
double sum_squares(const float* x, int64_t n);

}  // namespace grebe
