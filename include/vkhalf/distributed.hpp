#pragma once
// Data-parallel training: what a Trainer needs from a group of processes ("ranks"), each driving
// one device. The core library only knows this interface; an MPI implementation lives in the
// optional vkhalf_mpi library (vkhalf/mpi.hpp), so libvkhalf itself never depends on MPI.
//
// Every call is collective: every rank makes the same calls in the same order, or the group
// waits (an implementation bounds that wait and throws DistributedError).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vkhalf {

class Communicator {
public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // Element-wise sum over the ranks, in place; every rank receives the same bits.
    virtual void allreduce_sum(std::span<float> values) = 0;
    virtual void allreduce_sum(std::span<double> values) = 0;
    // Every rank's value, indexed by rank.
    virtual std::vector<uint64_t> allgather(uint64_t value) = 0;
};

// Throws DistributedError when the ranks' fingerprints of `what` (e.g. "model", "training data")
// differ, naming each rank that disagrees with rank 0. Collective.
void check_ranks_agree(Communicator& comm, const std::string& what, uint64_t fingerprint);

// FNV-1a, 64 bit, continued from `hash`: the fingerprints ranks compare.
uint64_t fingerprint_bytes(std::span<const std::byte> bytes, uint64_t hash = 0xcbf29ce484222325ull);

} // namespace vkhalf
