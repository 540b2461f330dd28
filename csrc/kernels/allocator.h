// allocator.h — malloc settings for training's large, short-lived arrays (see allocator.cpp).
#pragma once

namespace grebe {

// Applies the settings once (called when grebe._C is imported) unless GREBE_MALLOC_TUNING=0;
// returns whether they were applied (false on a C library without mallopt).
bool tune_allocator();

}  // namespace grebe
