// test_runtime.cpp — ISA dispatch choice and the thread budget.
#include <gtest/gtest.h>

#include "kernels/runtime.h"

namespace grebe {

TEST(Runtime, IsaNamesRoundTrip) {
    for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512}) {
        Isa parsed;
        ASSERT_TRUE(parse_isa(isa_name(isa), &parsed));
        EXPECT_EQ(parsed, isa);
    }
    Isa unused;
    EXPECT_FALSE(parse_isa("sse9", &unused));
}

TEST(Runtime, SetIsaNeverExceedsTheCpu) {
    Isa best = detect_isa();
    EXPECT_TRUE(set_isa(Isa::generic));
    EXPECT_EQ(active_isa(), Isa::generic);
    if (best != Isa::avx512) EXPECT_FALSE(set_isa(Isa::avx512));
    EXPECT_TRUE(set_isa(best));
    EXPECT_EQ(active_isa(), best);
}

TEST(Runtime, ThreadBudget) {
    int before = num_threads();
    EXPECT_GE(before, 1);
    set_num_threads(3);
    EXPECT_EQ(num_threads(), 3);
    EXPECT_EQ(threads_for(10), 1);  // small work runs serially
    EXPECT_EQ(threads_for(int64_t(1) << 30), 3);
    set_num_threads(0);  // clamped, never zero threads
    EXPECT_EQ(num_threads(), 1);
    set_num_threads(before);
    EXPECT_GE(physical_cores(), 1);
}

}  // namespace grebe
