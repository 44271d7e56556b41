#include "vkhalf/distributed.hpp"

#include "vkhalf/error.hpp"

namespace vkhalf {

void check_ranks_agree(Communicator& comm, const std::string& what, uint64_t fingerprint) {
    const std::vector<uint64_t> all = comm.allgather(fingerprint);
    std::string differing;
    for (std::size_t r = 1; r < all.size(); ++r)
        if (all[r] != all[0]) differing += (differing.empty() ? "" : ", ") + std::to_string(r);
    if (!differing.empty())
        throw DistributedError("the ranks disagree on the " + what + ": rank(s) " + differing + " differ from rank 0 (" +
                               std::to_string(all.size()) + " ranks)");
}

uint64_t fingerprint_bytes(std::span<const std::byte> bytes, uint64_t hash) {
    for (std::byte b : bytes) hash = (hash ^ uint64_t(b)) * 0x100000001b3ull;  // FNV-1a 64 prime
    return hash;
}

} // namespace vkhalf
