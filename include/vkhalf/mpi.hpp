#pragma once
// MpiCommunicator: the Communicator over MPI (Open MPI, MPICH), in the optional vkhalf_mpi library
// (CMake target vkhalf::mpi, built when CMake finds MPI). mpi.h stays out of this header.
#include "vkhalf/distributed.hpp"

namespace vkhalf {

class MpiCommunicator final : public Communicator {
public:
    // Initialises MPI unless it already is (and then finalises it in the destructor).
    // timeout_seconds bounds every collective: a rank that waits longer for its peers throws
    // DistributedError naming the operation and itself, instead of hanging.
    MpiCommunicator(int& argc, char**& argv, double timeout_seconds = 600.0);
    ~MpiCommunicator() override;
    MpiCommunicator(const MpiCommunicator&) = delete;
    MpiCommunicator& operator=(const MpiCommunicator&) = delete;

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    // Rank among the processes on this machine: which of its devices this rank drives.
    int local_rank() const { return local_rank_; }
    int local_size() const { return local_size_; }

    void allreduce_sum(std::span<float> values) override;
    void allreduce_sum(std::span<double> values) override;
    std::vector<uint64_t> allgather(uint64_t value) override;

    // Ends every rank of the job (MPI_Abort) with this exit status: what a failing rank does once
    // it has printed why, so that no peer waits for it.
    [[noreturn]] void abort(int exit_status) noexcept;

    // Whether mpirun / mpiexec started this process (Open MPI, MPICH and PMI-based launchers).
    static bool launched_by_mpirun();

private:
    void wait(void* request, const char* what);  // an MPI_Request*, tested until done or timed out

    int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
    double timeout_seconds_;
    bool finalize_ = false;
};

} // namespace vkhalf
