// test_conv_bias_grad.cpp — the conv bias gradient db[k] = sum over (n, p, q) of dy is the
// float dy's exact sum, rounded once, on every ISA and for any thread count. A conv bias in
// front of a BatchNormalization has a true gradient of 0: the dy it gets sums to rounding
// noise, and Adam (eps 1e-7) turns whatever the summation adds into a drift of the bias. With
// float running sums over N*P*Q = 1280 rows the error was ~1e-6 of |dy| (issue 11 item 6).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/conv.h"
#include "kernels/runtime.h"
#include "test_util.h"

namespace grebe {
namespace {

using testing_util::random_vec;

Conv2dShape conv1d_same(int64_t N, int64_t L, int64_t C, int64_t K, int64_t k) {
    Conv2dShape s{};
    s.N = N, s.H = 1, s.W = L, s.C = C, s.K = K, s.R = 1, s.S = k;
    s.SH = s.SW = s.DH = s.DW = 1;
    s.PL = (k - 1) / 2, s.PR = k - 1 - s.PL;
    s.P = conv2d_output_size(s.H, s.R, s.SH, s.DH, s.PT, s.PB);
    s.Q = conv2d_output_size(s.W, s.S, s.SW, s.DW, s.PL, s.PR);
    return s;
}

TEST(ConvBiasGrad, IsTheExactSumOfDyOnEveryIsaAndThreadCount) {
    testing_util::Restore restore;
    // keras-io's time-series classifier (batch 32, length 40, 64 filters); channel counts off
    // the 16-column panels; a batch past the chunking of the weight gradient.
    for (const Conv2dShape& s : {conv1d_same(32, 40, 64, 64, 3), conv1d_same(32, 40, 1, 64, 3),
                                 conv1d_same(7, 33, 5, 20, 3), conv1d_same(70, 12, 3, 17, 5)}) {
        const int64_t rows = s.N * s.P * s.Q;
        std::vector<float> dy = random_vec(rows * s.K, 11);
        for (int64_t k = 0; k < s.K; k++) {  // columns summing to ~0, as after a BatchNorm
            double mean = 0.0;
            for (int64_t i = 0; i < rows; i++) mean += dy[i * s.K + k];
            mean /= static_cast<double>(rows);
            for (int64_t i = 0; i < rows; i++) dy[i * s.K + k] -= static_cast<float>(mean);
        }
        const std::vector<float> relu_y = random_vec(rows * s.K, 12);  // masks about half
        const std::vector<float> x = random_vec(s.N * s.H * s.W * s.C, 13);
        for (const float* mask : {static_cast<const float*>(nullptr), relu_y.data()}) {
            std::vector<double> want(s.K, 0.0), mag(s.K, 0.0);
            for (int64_t i = 0; i < rows; i++)
                for (int64_t k = 0; k < s.K; k++) {
                    const float g = mask && mask[i * s.K + k] <= 0.0f ? 0.0f : dy[i * s.K + k];
                    want[k] += g;
                    mag[k] += std::fabs(g);
                }
            for (Isa isa : testing_util::runnable_isas())
                for (int threads : {1, 2}) {
                    set_isa(isa);
                    set_num_threads(threads);
                    std::vector<float> dw(s.R * s.S * s.C * s.K), db(s.K);
                    conv2d_backward_weights(dw.data(), db.data(), dy.data(), mask, x.data(), s);
                    for (int64_t k = 0; k < s.K; k++) {
                        // The double sum's own error (~1e-16 * sum |dy|) plus the final rounding.
                        const double tol = 1e-12 * mag[k] + std::fabs(want[k]) * 6e-8;
                        ASSERT_NEAR(db[k], want[k], tol)
                            << isa_name(isa) << " threads " << threads << " K" << s.K << " N"
                            << s.N << (mask ? " relu-masked" : "") << " column " << k;
                    }
                }
        }
    }
}

}  // namespace
}  // namespace grebe
