// loss.h — fused, numerically stable cross-entropy kernels: loss and gradient in one pass.
// Legend: N rows, C classes. Per-row losses are written separately (no reduction here), so the
// caller sums them in a fixed order and results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace grebe {

// logits (N,C), labels (N,) in [0,C) -> loss (N,) = logsumexp(x) - x[label];
// dlogits (N,C) = softmax(x) - onehot(label) (skipped when dlogits == nullptr).
void softmax_cross_entropy_sparse(float* loss, float* dlogits, const float* logits,
                                  const int64_t* labels, int64_t N, int64_t C);

// logits (N,C), targets (N,C) -> loss (N,) = sum_c t_c * (logsumexp(x) - x_c);
// dlogits (N,C) = softmax(x) * sum_c t_c - t (skipped when dlogits == nullptr).
void softmax_cross_entropy_dense(float* loss, float* dlogits, const float* logits,
                                 const float* targets, int64_t N, int64_t C);

// Elementwise over n: loss = max(x,0) - x*z + log1p(exp(-|x|)) (TF's sigmoid cross-entropy
// with logits); dlogits = sigmoid(x) - z (skipped when dlogits == nullptr).
void sigmoid_cross_entropy(float* loss, float* dlogits, const float* logits,
                           const float* targets, int64_t n);

// The first index i with labels[i] outside [0, C), or -1 when all are valid. Serial.
int64_t first_bad_label(const int64_t* labels, int64_t N, int64_t C);

}  // namespace grebe
