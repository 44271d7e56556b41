#pragma once
// An offline memory plan: every intermediate's lifetime (first and last step) is known before
// anything is allocated, so blocks are placed once, largest first, each at the lowest offset that
// no block alive at the same time occupies ("greedy by size" over intervals). Arenas are capped
// at the device's maxStorageBufferRange; a block that fits no arena opens a new one.
#include <cstdint>
#include <span>
#include <vector>

namespace vkhalf::detail {

struct Lifetime {
    int64_t first = 0, last = 0;  // steps, inclusive
    uint64_t bytes = 0;
};

struct Placement {
    int arena = 0;
    uint64_t offset = 0;
};

struct MemoryPlan {
    std::vector<Placement> at;         // per lifetime
    std::vector<uint64_t> arena_bytes;  // per arena
    uint64_t total() const;
};

// reuse false: no two blocks share memory (every lifetime treated as overlapping every other).
MemoryPlan plan_memory(std::span<const Lifetime> lifetimes, uint64_t alignment, uint64_t arena_cap, bool reuse);

} // namespace vkhalf::detail
