#include "compile/memory_plan.hpp"

#include <algorithm>
#include <numeric>

namespace vkhalf::detail {

uint64_t MemoryPlan::total() const { return std::accumulate(arena_bytes.begin(), arena_bytes.end(), uint64_t(0)); }

MemoryPlan plan_memory(std::span<const Lifetime> lifetimes, uint64_t alignment, uint64_t arena_cap, bool reuse) {
    const uint64_t align = std::max<uint64_t>(alignment, 4);
    auto round_up = [&](uint64_t v) { return (v + align - 1) / align * align; };
    MemoryPlan plan;
    plan.at.resize(lifetimes.size());
    std::vector<std::size_t> order(lifetimes.size());
    std::iota(order.begin(), order.end(), std::size_t(0));
    // Largest first: the big blocks set the arena's size, the small ones fill the gaps.
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return lifetimes[a].bytes > lifetimes[b].bytes; });
    struct Placed {
        std::size_t index;
        uint64_t begin, end;
    };
    std::vector<std::vector<Placed>> arenas;
    for (std::size_t i : order) {
        const Lifetime& l = lifetimes[i];
        const uint64_t size = round_up(std::max<uint64_t>(l.bytes, 4));
        for (std::size_t a = 0;; ++a) {
            if (a == arenas.size()) arenas.emplace_back();
            std::vector<Placed> clash;
            for (const Placed& p : arenas[a]) {
                const Lifetime& o = lifetimes[p.index];
                if (!reuse || (o.first <= l.last && l.first <= o.last)) clash.push_back(p);
            }
            std::sort(clash.begin(), clash.end(), [](const Placed& x, const Placed& y) { return x.begin < y.begin; });
            uint64_t offset = 0;
            for (const Placed& p : clash) {
                if (offset + size <= p.begin) break;
                offset = std::max(offset, p.end);
            }
            // An arena holds what fits under the cap; a block larger than the cap gets one of its own
            // (and allocating it reports the limit).
            if (offset + size > arena_cap && !arenas[a].empty()) continue;
            arenas[a].push_back({i, offset, offset + size});
            plan.at[i] = {int(a), offset};
            break;
        }
    }
    for (const auto& arena : arenas) {
        uint64_t end = 0;
        for (const Placed& p : arena) end = std::max(end, p.end);
        plan.arena_bytes.push_back(end);
    }
    return plan;
}

} // namespace vkhalf::detail
