// MpiCommunicator: collectives as non-blocking MPI calls tested until done, so a wait has a
// deadline (blocking MPI calls would wait forever for a peer that hangs).
#include "vkhalf/mpi.hpp"

#include <mpi.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "vkhalf/error.hpp"

namespace vkhalf {

namespace {

// Polling: spin briefly (a reduction over shared memory takes microseconds), then sleep between
// tests so a waiting rank leaves the CPU to the ranks still computing (lavapipe runs on the CPU).
constexpr int kSpinTests = 1000;
constexpr auto kMaxSleep = std::chrono::microseconds(500);

void check_mpi(int code, const char* what, int rank) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    throw DistributedError(std::string(what) + " failed on rank " + std::to_string(rank) + ": " +
                           std::string(text, std::size_t(length)));
}

int int_count(std::size_t n, int rank) {
    if (n > std::size_t(INT32_MAX))
        throw DistributedError("an all-reduce of " + std::to_string(n) + " values exceeds MPI's int count (rank " +
                               std::to_string(rank) + ")");
    return static_cast<int>(n);
}

// Starts a non-blocking in-place sum over every rank; the caller waits with its timeout.
MPI_Request start_allreduce_sum(void* values, std::size_t count, MPI_Datatype type, int rank, const char* what) {
    MPI_Request request = MPI_REQUEST_NULL;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, values, int_count(count, rank), type, MPI_SUM, MPI_COMM_WORLD, &request),
              what, rank);
    return request;
}

} // namespace

MpiCommunicator::MpiCommunicator(int& argc, char**& argv, double timeout_seconds) : timeout_seconds_(timeout_seconds) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
        int provided = 0;
        check_mpi(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread", 0);
        finalize_ = true;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);  // errors become exceptions
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local = MPI_COMM_NULL;
    check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local),
              "MPI_Comm_split_type", rank_);
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
}

MpiCommunicator::~MpiCommunicator() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalize_ && !finalized) MPI_Finalize();
}

void MpiCommunicator::wait(void* request_ptr, const char* what) {
    auto* request = static_cast<MPI_Request*>(request_ptr);
    const auto start = std::chrono::steady_clock::now();
    auto sleep = std::chrono::microseconds(1);
    for (int tests = 0;; ++tests) {
        int done = 0;
        check_mpi(MPI_Test(request, &done, MPI_STATUS_IGNORE), what, rank_);
        if (done) return;
        if (tests < kSpinTests) continue;
        const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (waited > timeout_seconds_)
            throw DistributedError(std::string(what) + " timed out on rank " + std::to_string(rank_) + " after " +
                                   std::to_string(int(waited)) +
                                   " s waiting for the other ranks (one of them failed, hangs or runs other steps)");
        std::this_thread::sleep_for(sleep);
        sleep = std::min(sleep * 2, kMaxSleep);
    }
}

void MpiCommunicator::allreduce_sum(std::span<float> values) {
    MPI_Request request = start_allreduce_sum(values.data(), values.size(), MPI_FLOAT, rank_, "gradient all-reduce");
    wait(&request, "gradient all-reduce");
}

void MpiCommunicator::allreduce_sum(std::span<double> values) {
    MPI_Request request = start_allreduce_sum(values.data(), values.size(), MPI_DOUBLE, rank_, "all-reduce");
    wait(&request, "all-reduce");
}

std::vector<uint64_t> MpiCommunicator::allgather(uint64_t value) {
    std::vector<uint64_t> all(static_cast<std::size_t>(size_));
    MPI_Request request = MPI_REQUEST_NULL;
    check_mpi(MPI_Iallgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD, &request),
              "all-gather", rank_);
    wait(&request, "all-gather");
    return all;
}

void MpiCommunicator::abort(int exit_status) noexcept {
    MPI_Abort(MPI_COMM_WORLD, exit_status);
    std::_Exit(exit_status);  // MPI_Abort does not return; should it, end this rank anyway
}

bool MpiCommunicator::launched_by_mpirun() {
    for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
        if (std::getenv(v)) return true;
    return false;
}

} // namespace vkhalf
