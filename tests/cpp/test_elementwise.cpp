// test_elementwise.cpp — activations, bias + activation and row softmax: the dispatched (vector,
// threaded) kernels against the scalar reference and against double-precision formulas, over
// awkward sizes; bitwise equality across thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/runtime.h"
#include "test_util.h"

namespace grebe {
namespace {

using testing_util::random_vec;

double sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// act(x) in double: the oracle for the reference loop.
double act_double(Act act, double x, double alpha) {
    switch (act) {
        case Act::linear: return x;
        case Act::relu: return x > 0 ? x : 0;
        case Act::relu6: return x < 0 ? 0 : (x > 6 ? 6 : x);
        case Act::leaky_relu: return x < 0 ? alpha * x : x;
        case Act::elu: return x > 0 ? x : alpha * std::expm1(x);
        case Act::selu:
            return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * std::expm1(x));
        case Act::sigmoid: return sig(x);
        case Act::hard_sigmoid: return std::fmin(std::fmax(x + 3, 0.0), 6.0) / 6;
        case Act::tanh: return std::tanh(x);
        case Act::gelu: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
        case Act::gelu_tanh:
            return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
        case Act::silu: return x * sig(x);
        case Act::softplus: return std::log1p(std::exp(x));
        default: return 0;
    }
}

const int64_t kSizes[] = {0, 1, 7, 8, 9, 31, 64, 257, 100003};

TEST(Elementwise, ActForwardMatchesDoubleFormulaAndReference) {
    for (int a = 0; a < static_cast<int>(Act::count); a++) {
        const Act act = static_cast<Act>(a);
        for (int64_t n : kSizes) {
            auto x = random_vec(n, 1 + a, -9.0f, 9.0f);
            std::vector<float> y(n), ref(n);
            act_forward(y.data(), x.data(), n, act, 0.3f);
            act_forward_reference(ref.data(), x.data(), n, act, 0.3f);
            for (int64_t i = 0; i < n; i++) {
                const double want = act_double(act, x[i], 0.3);
                ASSERT_NEAR(ref[i], want, 1e-6 + 2e-6 * std::fabs(want)) << a << " x " << x[i];
                ASSERT_NEAR(y[i], want, 1e-6 + 4e-6 * std::fabs(want)) << a << " x " << x[i];
            }
        }
    }
}

TEST(Elementwise, ActBackwardMatchesFiniteDifferences) {
    for (int a = 0; a < static_cast<int>(Act::count); a++) {
        const Act act = static_cast<Act>(a);
        const int64_t n = 1001;
        auto x = random_vec(n, 10 + a, -5.0f, 5.0f);
        auto dy = random_vec(n, 20 + a, -1.0f, 1.0f);
        std::vector<float> y(n), dx(n), dx_ref(n);
        act_forward_reference(y.data(), x.data(), n, act, 0.3f);
        act_backward(dx.data(), dy.data(), x.data(), y.data(), n, act, 0.3f);
        act_backward_reference(dx_ref.data(), dy.data(), x.data(), y.data(), n, act, 0.3f);
        for (int64_t i = 0; i < n; i++) {
            const double h = 1e-4;
            const double num =
                (act_double(act, x[i] + h, 0.3) - act_double(act, x[i] - h, 0.3)) / (2 * h);
            if (std::fabs(x[i]) < 2e-4 || std::fabs(std::fabs(x[i]) - 3) < 2e-4 ||
                std::fabs(x[i] - 6) < 2e-4)
                continue;  // a kink within the step
            ASSERT_NEAR(dx_ref[i], dy[i] * num, 1e-4) << "act " << a << " x " << x[i];
            ASSERT_NEAR(dx[i], dx_ref[i], 1e-5 + 1e-5 * std::fabs(dx_ref[i])) << "act " << a;
        }
    }
}

TEST(Elementwise, ReluGradientAtZeroIsZeroAndNanPropagates) {
    float x[3] = {0.0f, NAN, -1.0f}, y[3], dy[3] = {1, 1, 1}, dx[3];
    act_forward(y, x, 3, Act::relu, 0);
    EXPECT_EQ(y[0], 0.0f);
    EXPECT_TRUE(std::isnan(y[1]));
    act_backward(dx, dy, nullptr, y, 3, Act::relu, 0);
    EXPECT_EQ(dx[0], 0.0f);
    EXPECT_EQ(dx[2], 0.0f);
}

TEST(Elementwise, SoftmaxRowsMatchDoubleAndStayFiniteForHugeLogits) {
    for (int64_t N : {1, 3, 8, 10, 17, 1000}) {
        for (bool log : {false, true}) {
            const int64_t M = 5;
            auto x = random_vec(M * N, 3 + N, -30.0f, 30.0f);
            x[0] = 1e30f;  // huge logits
            std::vector<float> y(M * N), ref(M * N);
            softmax_forward(y.data(), x.data(), M, N, log);
            softmax_forward_reference(ref.data(), x.data(), M, N, log);
            for (int64_t i = 0; i < M; i++) {
                double mx = -INFINITY, s = 0;
                for (int64_t j = 0; j < N; j++) mx = std::fmax(mx, x[i * N + j]);
                for (int64_t j = 0; j < N; j++) s += std::exp(double(x[i * N + j]) - mx);
                for (int64_t j = 0; j < N; j++) {
                    const double lw = double(x[i * N + j]) - mx - std::log(s);
                    const double want = log ? lw : std::exp(lw);
                    ASSERT_TRUE(std::isfinite(y[i * N + j]));
                    const double tol = 1e-5 + 1e-5 * std::fabs(want);
                    ASSERT_NEAR(y[i * N + j], want, tol) << N << " " << log;
                    ASSERT_NEAR(ref[i * N + j], want, tol) << N << " " << log;
                }
            }
            auto dy = random_vec(M * N, 7, -1.0f, 1.0f);
            std::vector<float> dx(M * N), dx_ref(M * N);
            softmax_backward(dx.data(), dy.data(), y.data(), M, N, log);
            softmax_backward_reference(dx_ref.data(), dy.data(), y.data(), M, N, log);
            for (int64_t k = 0; k < M * N; k++)
                ASSERT_NEAR(dx[k], dx_ref[k], 2e-5) << N << " " << log;
        }
    }
}

TEST(Elementwise, BiasActForwardAndBackward) {
    for (int64_t N : {1, 5, 8, 13, 130}) {
        const int64_t M = 37;
        auto x = random_vec(M * N, 5, -3, 3);
        auto b = random_vec(N, 6, -1, 1);
        auto dy = random_vec(M * N, 7, -1, 1);
        for (Act act : {Act::linear, Act::relu, Act::sigmoid, Act::gelu}) {
            std::vector<float> y(M * N), z(M * N), dz(M * N), db(N), dz_ref(M * N);
            bias_act_forward(y.data(), x.data(), b.data(), M, N, act, 0);
            for (int64_t k = 0; k < M * N; k++) z[k] = x[k] + b[k % N];
            for (int64_t k = 0; k < M * N; k++)
                ASSERT_NEAR(y[k], act_double(act, z[k], 0), 1e-5) << N;
            bias_act_backward(dz.data(), db.data(), dy.data(), z.data(), y.data(), M, N, act, 0);
            act_backward_reference(dz_ref.data(), dy.data(), z.data(), y.data(), M * N, act, 0);
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t i = 0; i < M; i++) s += dz_ref[i * N + j];
                ASSERT_NEAR(db[j], s, 1e-4) << N;
            }
            for (int64_t k = 0; k < M * N; k++) ASSERT_NEAR(dz[k], dz_ref[k], 1e-5);
        }
    }
}

TEST(Elementwise, BitwiseIdenticalForAnyThreadCount) {
    const int before = num_threads();
    const int64_t M = 700, N = 300;  // large enough to run threaded
    auto x = random_vec(M * N, 11, -4, 4);
    auto b = random_vec(N, 12, -1, 1);
    auto dy = random_vec(M * N, 13, -1, 1);
    auto run = [&](int threads, std::vector<float>* out) {
        set_num_threads(threads);
        std::vector<float> y(M * N), dz(M * N), db(N), s(M * N), ds(M * N);
        bias_act_forward(y.data(), x.data(), b.data(), M, N, Act::gelu, 0);
        bias_act_backward(dz.data(), db.data(), dy.data(), x.data(), y.data(), M, N, Act::gelu, 0);
        softmax_forward(s.data(), x.data(), M, N, false);
        softmax_backward(ds.data(), dy.data(), s.data(), M, N, false);
        out->clear();
        for (auto* v : {&y, &dz, &db, &s, &ds}) out->insert(out->end(), v->begin(), v->end());
    };
    std::vector<float> one, two, three;
    run(1, &one);
    run(2, &two);
    run(3, &three);
    set_num_threads(before);
    ASSERT_EQ(one.size(), two.size());
    for (size_t k = 0; k < one.size(); k++) {
        ASSERT_EQ(one[k], two[k]) << k;
        ASSERT_EQ(one[k], three[k]) << k;
    }
}

TEST(Elementwise, GenericIsaMatchesVectorPath) {
    // Every vector ISA this CPU runs (AVX2, AVX-512) against the portable loops.
    testing_util::Restore restore;
    const int64_t n = 1027;
    auto x = random_vec(n, 21, -6, 6);
    auto dy = random_vec(n, 22, -1, 1);
    for (Isa isa : testing_util::runnable_isas()) {
        if (isa == Isa::generic) continue;
        for (Act act : {Act::relu, Act::sigmoid, Act::tanh, Act::gelu, Act::gelu_tanh, Act::silu,
                        Act::elu, Act::selu}) {
            std::vector<float> yv(n), yg(n), dv(n), dg(n);
            ASSERT_TRUE(set_isa(isa));
            act_forward(yv.data(), x.data(), n, act, 0.7f);
            act_backward(dv.data(), dy.data(), x.data(), yv.data(), n, act, 0.7f);
            ASSERT_TRUE(set_isa(Isa::generic));
            act_forward(yg.data(), x.data(), n, act, 0.7f);
            act_backward(dg.data(), dy.data(), x.data(), yg.data(), n, act, 0.7f);
            for (int64_t i = 0; i < n; i++) {
                ASSERT_NEAR(yv[i], yg[i], 2e-6 + 2e-6 * std::fabs(yg[i])) << isa_name(isa);
                ASSERT_NEAR(dv[i], dg[i], 1e-5 + 1e-5 * std::fabs(dg[i])) << isa_name(isa);
            }
        }
        for (bool log : {false, true}) {
            const int64_t M = 5, N = 203;
            auto z = random_vec(M * N, 23, -30, 30);
            auto g = random_vec(M * N, 24, -1, 1);
            std::vector<float> sv(M * N), sg(M * N), dv(M * N), dg(M * N);
            ASSERT_TRUE(set_isa(isa));
            softmax_forward(sv.data(), z.data(), M, N, log);
            softmax_backward(dv.data(), g.data(), sv.data(), M, N, log);
            ASSERT_TRUE(set_isa(Isa::generic));
            softmax_forward(sg.data(), z.data(), M, N, log);
            softmax_backward(dg.data(), g.data(), sg.data(), M, N, log);
            for (int64_t i = 0; i < M * N; i++) {
                ASSERT_NEAR(sv[i], sg[i], 1e-5 + 1e-5 * std::fabs(sg[i])) << isa_name(isa);
                ASSERT_NEAR(dv[i], dg[i], 1e-5 + 1e-5 * std::fabs(dg[i])) << isa_name(isa);
            }
        }
    }
}

}  // namespace
}  // namespace grebe
