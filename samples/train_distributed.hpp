#pragma once
// vkhalf-train's data-parallel side: the process group (MPI when this build has it), which device
// each rank drives, a test-only overflow injector, and ending every rank when one fails.
#include <memory>
#include <optional>
#include <string>

#include <vkhalf/vkhalf.hpp>

struct GroupOptions {
    bool requested = false;  // --distributed
    double timeout_seconds = 600;
    long inject_overflow_step = 0;  // > 0: the inject_rank's gradient is +inf at this step of the run
    int inject_rank = 0;
};

// One process, or one rank of an MPI job (started when requested or when mpirun launched us).
class ProcessGroup {
public:
    ProcessGroup(int& argc, char**& argv, const GroupOptions& options);
    ~ProcessGroup();
    ProcessGroup(const ProcessGroup&) = delete;
    ProcessGroup& operator=(const ProcessGroup&) = delete;

    // What the Trainer all-reduces through; nullptr for one process.
    vkhalf::Communicator* communicator();
    int rank() const;
    int size() const;
    bool lead() const { return rank() == 0; }  // writes checkpoints, metrics and the report
    // The device of this rank: --device (every rank), else --devices A,B,... by local rank, else
    // VKHALF_DEVICE, else (several ranks) the GPUs in turn by local rank, sharing when there are
    // fewer, or device 0 (lavapipe). nullopt: the Context's own choice.
    std::optional<uint32_t> device_for_rank(int device_flag, const std::string& devices_flag) const;
    // Prints "vkhalf-train: rank R of N: message" and ends this process with `status`; in a job of
    // several ranks, every rank (MPI_Abort), so no peer waits for this one.
    [[noreturn]] void fail(const std::string& message, int status);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Whether this vkhalf-train was built with MPI.
bool mpi_built();
