// test_batchnorm.cpp — batch-normalization kernels against plain double loops (shifted and
// large-mean data, C off the block size, one row), and bitwise equality for 1, 2, 3 threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/runtime.h"
#include "test_util.h"

namespace grebe {
namespace {

using testing_util::random_vec;


struct Ref {
    std::vector<double> mean, var, dbeta, dgamma, dx;
    std::vector<double> abs_dgamma;  // sum |dy * xhat|: the scale of a float sum's rounding
};

// The textbook two-pass formulas in double.
Ref reference(const std::vector<float>& x, const std::vector<float>& dy,
              const std::vector<float>& gamma, int64_t M, int64_t C, double eps) {
    Ref r;
    r.mean.assign(C, 0.0);
    r.var.assign(C, 0.0);
    r.dbeta.assign(C, 0.0);
    r.dgamma.assign(C, 0.0);
    r.abs_dgamma.assign(C, 0.0);
    r.dx.assign(M * C, 0.0);
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++) r.mean[c] += x[m * C + c];
    for (int64_t c = 0; c < C; c++) r.mean[c] /= M;
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++) {
            const double d = x[m * C + c] - r.mean[c];
            r.var[c] += d * d;
        }
    for (int64_t c = 0; c < C; c++) r.var[c] /= M;
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++) {
            const double xhat = (x[m * C + c] - r.mean[c]) / std::sqrt(r.var[c] + eps);
            r.dbeta[c] += dy[m * C + c];
            r.dgamma[c] += dy[m * C + c] * xhat;
            r.abs_dgamma[c] += std::fabs(dy[m * C + c] * xhat);
        }
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++) {
            const double inv = 1.0 / std::sqrt(r.var[c] + eps);
            const double xhat = (x[m * C + c] - r.mean[c]) * inv;
            r.dx[m * C + c] = gamma[c] * inv *
                              (dy[m * C + c] - r.dbeta[c] / M - xhat * r.dgamma[c] / M);
        }
    return r;
}

void near(float got, double want, double tol, const char* what, int64_t i) {
    ASSERT_NEAR(got, want, tol * (1.0 + std::fabs(want))) << what << " at " << i;
}

TEST(BatchNorm, MatchesReference) {
    struct Case { int64_t M, C; float offset, spread; };
    const double eps = 1e-3;
    for (const Case k : {Case{1, 3, 0.0f, 1.0f}, Case{7, 5, 0.0f, 1.0f}, Case{1000, 65, 0.5f, 2.0f},
                         Case{3000, 32, 100.0f, 0.1f}, Case{2049, 130, -3.0f, 1.0f}}) {
        SCOPED_TRACE(testing::Message() << "M=" << k.M << " C=" << k.C);
        std::vector<float> x = random_vec(k.M * k.C, 1, -k.spread, k.spread);
        for (auto& v : x) v += k.offset;  // |mean| >> std: the shifted sums keep the variance
        const std::vector<float> dy = random_vec(k.M * k.C, 2);
        const std::vector<float> gamma = random_vec(k.C, 3, 0.5f, 1.5f);
        const Ref r = reference(x, dy, gamma, k.M, k.C, eps);
        std::vector<float> mean(k.C), var(k.C), inv(k.C), db(k.C), dg(k.C), dx(k.M * k.C);
        batch_norm_stats(mean.data(), var.data(), x.data(), k.M, k.C);
        for (int64_t c = 0; c < k.C; c++) {
            near(mean[c], r.mean[c], 1e-6, "mean", c);
            ASSERT_NEAR(var[c], r.var[c], 1e-5 * r.var[c] + 1e-9) << "var at " << c;
            inv[c] = 1.0f / std::sqrt(var[c] + static_cast<float>(eps));
        }
        batch_norm_backward_reduce(db.data(), dg.data(), dy.data(), x.data(), mean.data(),
                                   inv.data(), k.M, k.C);
        for (int64_t c = 0; c < k.C; c++) {
            near(db[c], r.dbeta[c], 1e-5, "dbeta", c);
            ASSERT_NEAR(dg[c], r.dgamma[c], 1e-5 * r.abs_dgamma[c] + 1e-6)
                << "dgamma at " << c;
        }
        batch_norm_backward_data(dx.data(), dy.data(), x.data(), mean.data(), inv.data(),
                                 gamma.data(), db.data(), dg.data(), k.M, k.C);
        double scale = 0.0;
        for (double v : r.dx) scale = std::max(scale, std::fabs(v));
        for (int64_t i = 0; i < k.M * k.C; i++)
            ASSERT_NEAR(dx[i], r.dx[i], 1e-3 * scale + 1e-6) << "dx at " << i;
        std::vector<float> dx1(k.M * k.C), db1(k.C), dg1(k.C);
        batch_norm_backward(dx1.data(), db1.data(), dg1.data(), dy.data(), nullptr, x.data(),
                            mean.data(), inv.data(), gamma.data(), k.M, k.C);
        for (int64_t c = 0; c < k.C; c++) {
            near(db1[c], r.dbeta[c], 1e-6, "batch_norm_backward dbeta", c);
            ASSERT_NEAR(dg1[c], r.dgamma[c], 1e-5 * r.abs_dgamma[c] + 1e-6) << "dgamma " << c;
        }
        for (int64_t i = 0; i < k.M * k.C; i++)
            ASSERT_NEAR(dx1[i], r.dx[i], 1e-3 * scale + 1e-6) << "batch_norm_backward dx " << i;
        std::vector<float> shift(k.C), y(k.M * k.C);
        for (int64_t c = 0; c < k.C; c++) shift[c] = 0.25f * static_cast<float>(c);
        batch_norm_apply(y.data(), x.data(), gamma.data(), shift.data(), k.M, k.C);
        for (int64_t i = 0; i < k.M * k.C; i++)
            ASSERT_EQ(y[i], x[i] * gamma[i % k.C] + shift[i % k.C]) << "apply at " << i;
    }
}

TEST(BatchNorm, BitwiseInvariantToThreads) {
    const int64_t M = 64 * 13 * 13 + 7, C = 64;
    const std::vector<float> x = random_vec(M * C, 4), dy = random_vec(M * C, 5);
    const int before = num_threads();
    std::vector<std::vector<float>> outs;
    for (int t : {1, 2, 3}) {
        set_num_threads(t);
        std::vector<float> mean(C), var(C), inv(C), db(C), dg(C), dx(M * C);
        batch_norm_stats(mean.data(), var.data(), x.data(), M, C);
        for (int64_t c = 0; c < C; c++) inv[c] = 1.0f / std::sqrt(var[c] + 1e-3f);
        batch_norm_backward_reduce(db.data(), dg.data(), dy.data(), x.data(), mean.data(),
                                   inv.data(), M, C);
        batch_norm_backward_data(dx.data(), dy.data(), x.data(), mean.data(), inv.data(),
                                 nullptr, db.data(), dg.data(), M, C);
        std::vector<float> dx1(M * C), db1(C), dg1(C);
        batch_norm_backward(dx1.data(), db1.data(), dg1.data(), dy.data(), nullptr, x.data(),
                            mean.data(), inv.data(), nullptr, M, C);
        std::vector<float> all(mean);
        for (const auto* v : {&dx1, &db1, &dg1}) all.insert(all.end(), v->begin(), v->end());
        for (const auto* v : {&var, &db, &dg, &dx}) all.insert(all.end(), v->begin(), v->end());
        outs.push_back(all);
    }
    set_num_threads(before);
    for (size_t k = 1; k < outs.size(); k++)
        ASSERT_EQ(0, std::memcmp(outs[0].data(), outs[k].data(), outs[0].size() * 4));
}

// The column sums of batch_norm_backward's dx are 0 up to the rounding of dx's own elements
// (sqrt(M) float roundings of |dx|), also when |mean| >> std, where the float-rounded mean and
// dbeta / M of the two-call form leave a systematic sum: a conv bias in front of the
// normalization has a true gradient of 0 and gets that sum (issue 11 item 6).
TEST(BatchNorm, InputGradientColumnsSumToZero) {
    struct Case { int64_t M, C; float offset, spread; };
    for (const Case k : {Case{1280, 64, 0.0f, 1.0f}, Case{1280, 64, 3.0f, 0.5f},
                         Case{3000, 17, 100.0f, 0.1f}, Case{100, 5, -7.0f, 2.0f}}) {
        std::vector<float> x = random_vec(k.M * k.C, 21, -k.spread, k.spread);
        for (auto& v : x) v += k.offset;
        const std::vector<float> dy = random_vec(k.M * k.C, 22, -0.2f, 1.0f);  // mean != 0
        const std::vector<float> gamma = random_vec(k.C, 23, 0.5f, 1.5f);
        std::vector<float> mean(k.C), var(k.C), inv(k.C), db(k.C), dg(k.C), dx(k.M * k.C);
        batch_norm_stats(mean.data(), var.data(), x.data(), k.M, k.C);
        for (int64_t c = 0; c < k.C; c++) inv[c] = 1.0f / std::sqrt(var[c] + 1e-3f);
        batch_norm_backward(dx.data(), db.data(), dg.data(), dy.data(), nullptr, x.data(),
                            mean.data(),
                            inv.data(), gamma.data(), k.M, k.C);
        for (int64_t c = 0; c < k.C; c++) {
            double sum = 0.0, mag = 0.0;
            for (int64_t m = 0; m < k.M; m++) {
                sum += dx[m * k.C + c];
                mag = std::max(mag, std::fabs(static_cast<double>(dx[m * k.C + c])));
            }
            // Random rounding of M elements: ~sqrt(M) * 2^-24 * |dx|; 8x that as the bound.
            const double bound = 8.0 * std::sqrt(static_cast<double>(k.M)) * 6e-8 * mag;
            ASSERT_LE(std::fabs(sum), bound) << "M=" << k.M << " C=" << k.C << " offset "
                                             << k.offset << " column " << c;
        }
    }
}

// Batch norm + ReLU in one pass each way equals the two steps: apply then max(., 0), and the
// backward of dy masked by the ReLU (relu_y > 0), bit for bit (the same sums on the masked
// gradient); and the fused kernels are bit-identical for 1, 2 and 3 threads.
TEST(BatchNorm, ReluFusedEqualsTwoSteps) {
    const int before = num_threads();
    for (const auto& mc : {std::pair<int64_t, int64_t>{7, 5}, {1500, 16}, {2100, 67}}) {
        const int64_t M = mc.first, C = mc.second;
        SCOPED_TRACE(testing::Message() << "M=" << M << " C=" << C);
        const std::vector<float> x = random_vec(M * C, 6, -2.0f, 2.0f), dy = random_vec(M * C, 7);
        const std::vector<float> gamma = random_vec(C, 8, 0.5f, 1.5f), shift = random_vec(C, 9);
        std::vector<float> mean(C), var(C), inv(C), scale(C);
        batch_norm_stats(mean.data(), var.data(), x.data(), M, C);
        for (int64_t c = 0; c < C; c++) {
            inv[c] = 1.0f / std::sqrt(var[c] + 1e-3f);
            scale[c] = gamma[c] * inv[c];
        }
        std::vector<float> y(M * C), g(M * C);
        batch_norm_apply(y.data(), x.data(), scale.data(), shift.data(), M, C);
        for (int64_t i = 0; i < M * C; i++) {
            y[i] = y[i] < 0.0f ? 0.0f : y[i];
            g[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        }
        std::vector<float> db(C), dg(C), dx(M * C);
        // The two-step reference: the training backward on the ReLU-masked gradient g.
        batch_norm_backward(dx.data(), db.data(), dg.data(), g.data(), nullptr, x.data(),
                            mean.data(), inv.data(), gamma.data(), M, C);
        for (int t : {1, 2, 3}) {
            set_num_threads(t);
            std::vector<float> yf(M * C), dbf(C), dgf(C), dxf(M * C);
            batch_norm_apply_relu(yf.data(), x.data(), scale.data(), shift.data(), M, C);
            batch_norm_backward(dxf.data(), dbf.data(), dgf.data(), dy.data(), yf.data(),
                                x.data(), mean.data(), inv.data(), gamma.data(), M, C);
            ASSERT_EQ(0, std::memcmp(y.data(), yf.data(), y.size() * 4)) << "y, threads " << t;
            ASSERT_EQ(0, std::memcmp(db.data(), dbf.data(), C * 4)) << "dbeta, threads " << t;
            ASSERT_EQ(0, std::memcmp(dg.data(), dgf.data(), C * 4)) << "dgamma, threads " << t;
            ASSERT_EQ(0, std::memcmp(dx.data(), dxf.data(), dx.size() * 4)) << "dx, threads " << t;
        }
    }
    set_num_threads(before);
}

// batch_norm_backward gives the same bits under every ISA (the AVX-512 form keeps the portable
// operation order per channel) and for 1, 2, 3 threads: with and without the ReLU mask, C on
// and off the 16-lane step, M over several 1024-row units.
TEST(BatchNorm, ExactBackwardSameBitsEveryIsaAndThreadCount) {
    testing_util::Restore restore;
    for (const auto& mc : {std::pair<int64_t, int64_t>{7, 5}, {2500, 16}, {2100, 67}, {300, 9}}) {
        const int64_t M = mc.first, C = mc.second;
        const std::vector<float> x = random_vec(M * C, 31, 2.0f, 3.0f), dy = random_vec(M * C, 32);
        const std::vector<float> gamma = random_vec(C, 33, 0.5f, 1.5f);
        std::vector<float> y = random_vec(M * C, 34);  // the ReLU output: mask where > 0
        for (auto& v : y) v = v < 0.0f ? 0.0f : v;
        std::vector<float> mean(C), var(C), inv(C);
        batch_norm_stats(mean.data(), var.data(), x.data(), M, C);
        for (int64_t c = 0; c < C; c++) inv[c] = 1.0f / std::sqrt(var[c] + 1e-3f);
        for (const float* relu_y : std::vector<const float*>{nullptr, y.data()}) {
            auto run = [&] {
                std::vector<float> out(M * C + 2 * C);
                batch_norm_backward(out.data(), out.data() + M * C, out.data() + M * C + C,
                                    dy.data(), relu_y, x.data(), mean.data(), inv.data(),
                                    gamma.data(), M, C);
                return out;
            };
            set_isa(Isa::generic);
            set_num_threads(1);
            const std::vector<float> want = run();
            for (Isa isa : testing_util::runnable_isas())
                for (int t : {1, 2, 3}) {
                    set_isa(isa);
                    set_num_threads(t);
                    ASSERT_EQ(0, std::memcmp(want.data(), run().data(), want.size() * 4))
                        << isa_name(isa) << " threads " << t << " M=" << M << " C=" << C
                        << (relu_y ? " relu" : "");
                }
        }
    }
}

}  // namespace
}  // namespace grebe
