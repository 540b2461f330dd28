// test_gemm.cpp — grebe::sgemm (and the fused / batched variants) against sgemm_reference over
// awkward shapes, every transpose, alpha/beta, padded leading dimensions, on every ISA this CPU
// runs; and bitwise equality of the results for 1, 2 and 3 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/gemm/gemm.h"
#include "kernels/runtime.h"
#include "test_util.h"

namespace grebe {
namespace {

using testing_util::random_vec;
using testing_util::Restore;
using testing_util::runnable_isas;

struct Case {
    bool ta, tb;
    int64_t M, N, K;
    float alpha, beta;
    int64_t pad;  // extra columns in every leading dimension
};

// Runs one case through sgemm and the reference; checks within a K-scaled tolerance.
void check_case(const Case& t, uint32_t seed) {
    const int64_t a_rows = t.ta ? t.K : t.M, a_cols = t.ta ? t.M : t.K;
    const int64_t b_rows = t.tb ? t.N : t.K, b_cols = t.tb ? t.K : t.N;
    const int64_t lda = a_cols + t.pad, ldb = b_cols + t.pad, ldc = t.N + t.pad;
    auto A = random_vec(static_cast<size_t>(a_rows * lda), seed);
    auto B = random_vec(static_cast<size_t>(b_rows * ldb), seed + 1);
    auto C = random_vec(static_cast<size_t>(t.M * ldc), seed + 2);
    if (t.beta == 0.0f)  // beta == 0 must not read C: NaN there must not leak out
        for (auto& x : C) x = std::numeric_limits<float>::quiet_NaN();
    auto R = C;
    sgemm(t.ta, t.tb, t.M, t.N, t.K, t.alpha, A.data(), lda, B.data(), ldb, t.beta, C.data(), ldc);
    sgemm_reference(t.ta, t.tb, t.M, t.N, t.K, t.alpha, A.data(), lda, B.data(), ldb, t.beta,
                    R.data(), ldc);
    const double tol = 1e-5 * (t.K + 4) * (std::fabs(t.alpha) + 1);
    for (int64_t i = 0; i < t.M; i++) {
        for (int64_t j = 0; j < ldc; j++) {
            const float got = C[i * ldc + j], want = R[i * ldc + j];
            if (j >= t.N) {  // padding columns are never written
                if (t.beta == 0.0f) {
                    ASSERT_TRUE(std::isnan(got)) << "wrote padding at " << i << "," << j;
                } else {
                    ASSERT_EQ(got, want) << "wrote padding at " << i << "," << j;
                }
                continue;
            }
            ASSERT_NEAR(got, want, tol)
                << "isa=" << isa_name(active_isa()) << " ta=" << t.ta << " tb=" << t.tb
                << " M=" << t.M << " N=" << t.N << " K=" << t.K << " alpha=" << t.alpha
                << " beta=" << t.beta << " pad=" << t.pad << " at (" << i << "," << j << ")";
        }
    }
}

TEST(Gemm, MatchesReferenceOnAwkwardShapes) {
    Restore restore;
    // Around both micro-kernel row counts (6 for AVX2, 12 for AVX-512) and 16/32 columns.
    const int64_t sizes[] = {1, 2, 5, 6, 7, 11, 12, 13, 15, 16, 17, 25, 31, 33};
    const int64_t depths[] = {1, 3, 17, 255, 256, 257};
    for (Isa isa : runnable_isas()) {
        ASSERT_TRUE(set_isa(isa));
        uint32_t seed = 1;
        for (bool ta : {false, true})
            for (bool tb : {false, true})
                for (int64_t M : sizes)
                    for (int64_t N : sizes) {
                        const int64_t K = depths[(M * 7 + N) % 6];
                        check_case({ta, tb, M, N, K, 1.0f, 0.0f, (M + N) % 3}, seed++);
                    }
    }
}

TEST(Gemm, AlphaBetaAndLeadingDimensions) {
    Restore restore;
    const float alphas[] = {1.0f, -0.5f, 2.0f};
    const float betas[] = {0.0f, 1.0f, -1.5f};
    for (Isa isa : runnable_isas()) {
        ASSERT_TRUE(set_isa(isa));
        uint32_t seed = 100;
        for (bool ta : {false, true})
            for (bool tb : {false, true})
                for (float alpha : alphas)
                    for (float beta : betas)
                        for (int64_t pad : {0, 3, 16})
                            check_case({ta, tb, 23, 37, 29, alpha, beta, pad}, seed++);
    }
}

TEST(Gemm, LargeShapesCrossEveryBlockBoundary) {
    Restore restore;
    // MC (144 for AVX2, 384 for AVX-512) +- 1 rows, NR-odd columns, KC (256) +- 1 and 2*KC+1
    // depth; both driver paths (in place and packed); 4100 columns crosses NC (4080 / 4096).
    const Case cases[] = {
        {false, false, 145, 97, 257, 1.0f, 0.0f, 0},  {false, false, 143, 33, 513, 1.0f, 1.0f, 5},
        {true, false, 300, 700, 300, 0.5f, 0.0f, 0},  {false, true, 301, 290, 255, 1.0f, 2.0f, 1},
        {true, true, 299, 303, 260, -1.0f, 0.0f, 2},  {false, false, 320, 600, 200, 1.0f, 0.0f, 0},
        {false, false, 7, 4100, 9, 1.0f, 0.0f, 0},    {false, false, 600, 4100, 130, 1.0f, 0.0f, 0},
        {false, false, 1000, 27, 32, 1.0f, 0.0f, 0},  {true, false, 64, 2304, 128, 1.0f, 0.0f, 0},
        // Shallow A^T read in place (K <= KC/4): a weight gradient x^T @ dz, and its edges.
        {true, false, 784, 128, 32, 1.0f, 0.0f, 0},   {true, false, 785, 131, 33, 1.0f, 0.5f, 3},
        {true, true, 301, 97, 64, -1.0f, 0.0f, 1},    {true, false, 150, 40, 65, 1.0f, 1.0f, 0},
        // AVX-512's packed-A path (M > 2*MC = 768): MC blocks of 384 and a ragged last one.
        {false, false, 801, 530, 300, 1.0f, 0.0f, 0}, {true, false, 770, 515, 260, 1.0f, 1.0f, 1},
        {false, true, 385, 97, 257, 1.0f, 0.0f, 0},
    };
    for (Isa isa : runnable_isas()) {
        ASSERT_TRUE(set_isa(isa));
        uint32_t seed = 500;
        for (const Case& t : cases) check_case(t, seed++);
    }
}

TEST(Gemm, DegenerateShapes) {
    Restore restore;
    for (Isa isa : runnable_isas()) {
        ASSERT_TRUE(set_isa(isa));
        // K == 0: C = beta * C (beta == 0: zeros, even over NaN).
        std::vector<float> C(6, std::numeric_limits<float>::quiet_NaN());
        sgemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.0f, C.data(), 3);
        for (float x : C) EXPECT_EQ(x, 0.0f);
        std::vector<float> D(6, 2.0f);
        sgemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 0.5f, D.data(), 3);
        for (float x : D) EXPECT_EQ(x, 1.0f);
        // M == 0 or N == 0: nothing is touched.
        sgemm(false, false, 0, 3, 4, 1.0f, nullptr, 4, nullptr, 3, 0.0f, nullptr, 3);
        sgemm(false, false, 3, 0, 4, 1.0f, nullptr, 4, nullptr, 1, 0.0f, nullptr, 1);
        // alpha == 0: A and B are not used (NaN in A must not matter).
        std::vector<float> A(4, std::numeric_limits<float>::quiet_NaN()), B(4, 1.0f);
        std::vector<float> E(4, 3.0f);
        sgemm(false, false, 2, 2, 2, 0.0f, A.data(), 2, B.data(), 2, 1.0f, E.data(), 2);
        for (float x : E) EXPECT_EQ(x, 3.0f);
    }
}

TEST(Gemm, BitIdenticalForAnyThreadCount) {
    Restore restore;
    const Case cases[] = {
        {false, false, 64, 64, 64, 1.0f, 0.0f, 0},     {false, false, 301, 517, 600, 1.0f, 0.5f, 3},
        {true, false, 128, 2304, 64, 1.0f, 0.0f, 0},   {false, true, 200, 130, 300, 1.0f, 0.0f, 0},
        {false, false, 2000, 27, 32, 1.0f, 0.0f, 0},   {true, true, 97, 1000, 513, 2.0f, 1.0f, 1},
        {true, false, 784, 128, 32, 1.0f, 0.0f, 0},    {true, false, 785, 131, 33, 1.0f, 0.5f, 3},
        // B in place, few rows: threads split N (a dense forward at batch 32).
        {false, false, 32, 128, 784, 1.0f, 0.0f, 0},   {false, false, 31, 130, 300, 1.0f, 0.5f, 2},
        // AVX-512's packed A (M > 768): MC blocks split over the threads' rows.
        {false, false, 801, 530, 300, 1.0f, 0.0f, 0},
    };
    for (Isa isa : runnable_isas()) {
        ASSERT_TRUE(set_isa(isa));
        uint32_t seed = 900;
        for (const Case& t : cases) {
            const int64_t lda = (t.ta ? t.M : t.K) + t.pad, ldb = (t.tb ? t.K : t.N) + t.pad;
            const int64_t ldc = t.N + t.pad;
            auto A = random_vec(static_cast<size_t>((t.ta ? t.K : t.M) * lda), seed++);
            auto B = random_vec(static_cast<size_t>((t.tb ? t.N : t.K) * ldb), seed++);
            auto C0 = random_vec(static_cast<size_t>(t.M * ldc), seed++);
            std::vector<std::vector<float>> outs;
            for (int threads : {1, 2, 3}) {
                set_num_threads(threads);
                auto C = C0;
                sgemm(t.ta, t.tb, t.M, t.N, t.K, t.alpha, A.data(), lda, B.data(), ldb, t.beta,
                      C.data(), ldc);
                outs.push_back(C);
            }
            for (size_t r = 1; r < outs.size(); r++)
                ASSERT_EQ(0, std::memcmp(outs[0].data(), outs[r].data(), outs[0].size() * 4))
                    << "threads differ: isa=" << isa_name(isa) << " M=" << t.M << " N=" << t.N
                    << " K=" << t.K;
        }
    }
}

TEST(Gemm, BiasActEpilogue) {
    Restore restore;
    for (Isa isa : runnable_isas()) {
        ASSERT_TRUE(set_isa(isa));
        for (bool relu : {false, true})
            for (int64_t K : {5, 300}) {
                const int64_t M = 37, N = 29;
                auto A = random_vec(static_cast<size_t>(M * K), 7);
                auto B = random_vec(static_cast<size_t>(K * N), 8);
                auto bias = random_vec(static_cast<size_t>(N), 9);
                std::vector<float> C(M * N, std::numeric_limits<float>::quiet_NaN()), R(M * N);
                sgemm_bias_act(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f,
                               bias.data(), relu, C.data(), N);
                sgemm_reference(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f,
                                R.data(), N);
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        float want = R[i * N + j] + bias[j];
                        if (relu && want < 0) want = 0;
                        ASSERT_NEAR(C[i * N + j], want, 1e-5 * (K + 4));
                    }
                // Without bias and activation it is sgemm, bit for bit.
                std::vector<float> C1(M * N), C2(M * N);
                sgemm_bias_act(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f,
                               nullptr, false, C1.data(), N);
                sgemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, C2.data(), N);
                ASSERT_EQ(0, std::memcmp(C1.data(), C2.data(), C1.size() * 4));
            }
    }
}

TEST(Gemm, StridedBatchedMatchesOneByOne) {
    Restore restore;
    for (Isa isa : runnable_isas()) {
        ASSERT_TRUE(set_isa(isa));
        for (int64_t M : {5, 70}) {
            const int64_t batch = 5, N = 19, K = 23;
            auto A = random_vec(static_cast<size_t>(batch * M * K), 11);
            auto B = random_vec(static_cast<size_t>(K * N), 12);  // broadcast: stride 0
            std::vector<float> C(batch * M * N), R(batch * M * N);
            sgemm_strided_batched(false, false, batch, M, N, K, 1.0f, A.data(), K, M * K,
                                  B.data(), N, 0, 0.0f, C.data(), N, M * N);
            for (int64_t b = 0; b < batch; b++)
                sgemm(false, false, M, N, K, 1.0f, A.data() + b * M * K, K, B.data(), N, 0.0f,
                      R.data() + b * M * N, N);
            ASSERT_EQ(0, std::memcmp(C.data(), R.data(), C.size() * 4));
        }
    }
}

// NaN, +Inf, -Inf and huge values in A and B reach the same outputs on every ISA as through
// the portable kernel: NaN where any term is NaN or +Inf meets -Inf, the same infinities
// elsewhere (inputs stay far from overflow so the order of the sums cannot matter).
TEST(Gemm, NaNAndInfReachTheSameOutputsOnEveryIsa) {
    Restore restore;
    const Case shapes[] = {{false, false, 37, 45, 29, 1.0f, 0.0f, 0},
                           {true, false, 801, 530, 300, 1.0f, 0.0f, 0},
                           {false, true, 64, 64, 64, 1.0f, 1.0f, 0}};
    const float specials[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f};
    for (const Case& t : shapes) {
        auto A = random_vec(static_cast<size_t>(t.M * t.K), 71);
        auto B = random_vec(static_cast<size_t>(t.K * t.N), 72);
        for (size_t i = 0; i < 5; i++) {
            A[(i * 7919 + 3) % A.size()] = specials[i];
            B[(i * 104729 + 11) % B.size()] = specials[4 - i];
        }
        const int64_t lda = t.ta ? t.M : t.K, ldb = t.tb ? t.K : t.N;
        std::vector<float> want;
        for (Isa isa : runnable_isas()) {
            ASSERT_TRUE(set_isa(isa));
            std::vector<float> C(static_cast<size_t>(t.M * t.N), 0.5f);
            sgemm_bias_act(t.ta, t.tb, t.M, t.N, t.K, t.alpha, A.data(), lda, B.data(), ldb,
                           t.beta, nullptr, true, C.data(), t.N);  // relu keeps NaN
            if (isa == Isa::generic) {
                want = C;
                continue;
            }
            int64_t nonfinite = 0;
            for (size_t i = 0; i < C.size(); i++) {
                ASSERT_EQ(std::isnan(C[i]), std::isnan(want[i]))
                    << isa_name(isa) << " M=" << t.M << " at " << i << ": " << C[i] << " vs "
                    << want[i];
                if (std::isinf(want[i]) || std::isinf(C[i])) ASSERT_EQ(C[i], want[i]) << i;
                nonfinite += !std::isfinite(want[i]);
            }
            EXPECT_GT(nonfinite, 0);
        }
    }
}

// The measured FMA peak is a positive, finite figure on every ISA.
TEST(Gemm, FmaPeakIsMeasured) {
    Restore restore;
    for (Isa isa : runnable_isas()) {
        ASSERT_TRUE(set_isa(isa));
        const double g = fma_peak_gflops(1, 0.01);
        EXPECT_TRUE(std::isfinite(g) && g > 0.0) << isa_name(isa) << ": " << g;
    }
}

}  // namespace
}  // namespace grebe
