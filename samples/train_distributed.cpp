#include "train_distributed.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#ifdef VKHALF_WITH_MPI
#include <vkhalf/mpi.hpp>
#endif

using namespace vkhalf;

namespace {

// Test-only (--inject-overflow-step K --inject-rank R): rank R's gradient holds +inf at the K-th
// step of this run, as if its backward had overflowed. Every rank must skip that step.
class OverflowInjector final : public Communicator {
public:
    OverflowInjector(Communicator& inner, long step, int rank) : inner_(inner), step_(step), rank_(rank) {}
    int rank() const override { return inner_.rank(); }
    int size() const override { return inner_.size(); }
    void allreduce_sum(std::span<float> values) override {  // the Trainer's gradient, once per step
        if (++steps_ == step_ && inner_.rank() == rank_ && !values.empty()) values[0] = INFINITY;
        inner_.allreduce_sum(values);
    }
    void allreduce_sum(std::span<double> values) override { inner_.allreduce_sum(values); }
    std::vector<uint64_t> allgather(uint64_t value) override { return inner_.allgather(value); }

private:
    Communicator& inner_;
    long step_, steps_ = 0;
    int rank_;
};

} // namespace

bool mpi_built() {
#ifdef VKHALF_WITH_MPI
    return true;
#else
    return false;
#endif
}

struct ProcessGroup::Impl {
#ifdef VKHALF_WITH_MPI
    std::unique_ptr<MpiCommunicator> mpi;
#endif
    std::unique_ptr<OverflowInjector> injector;
    Communicator* comm = nullptr;
    int local_rank = 0;
};

ProcessGroup::ProcessGroup(int& argc, char**& argv, const GroupOptions& o) : impl_(std::make_unique<Impl>()) {
#ifdef VKHALF_WITH_MPI
    if (o.requested || MpiCommunicator::launched_by_mpirun()) {
        impl_->mpi = std::make_unique<MpiCommunicator>(argc, argv, o.timeout_seconds);
        impl_->comm = impl_->mpi.get();
        impl_->local_rank = impl_->mpi->local_rank();
    }
#else
    (void)argc, (void)argv;
    if (o.requested)
        throw UnsupportedError("--distributed: this vkhalf-train was built without MPI (install libopenmpi-dev and "
                               "reconfigure)");
#endif
    if (impl_->comm && o.inject_overflow_step > 0) {
        impl_->injector = std::make_unique<OverflowInjector>(*impl_->comm, o.inject_overflow_step, o.inject_rank);
        impl_->comm = impl_->injector.get();
    }
}

ProcessGroup::~ProcessGroup() = default;

Communicator* ProcessGroup::communicator() { return impl_->comm; }
int ProcessGroup::rank() const { return impl_->comm ? impl_->comm->rank() : 0; }
int ProcessGroup::size() const { return impl_->comm ? impl_->comm->size() : 1; }

std::optional<uint32_t> ProcessGroup::device_for_rank(int device_flag, const std::string& devices_flag) const {
    if (device_flag >= 0) return uint32_t(device_flag);
    const auto local = std::size_t(impl_->local_rank);
    if (!devices_flag.empty()) {
        std::vector<uint32_t> list;
        std::stringstream in(devices_flag);
        for (std::string item; std::getline(in, item, ',');) list.push_back(uint32_t(std::stoul(item)));
        if (list.empty()) throw Error("--devices: no device index in '" + devices_flag + "'");
        return list[local % list.size()];
    }
    const char* env = std::getenv("VKHALF_DEVICE");
    if (!impl_->comm || (env && *env)) return std::nullopt;  // the Context's own choice
    std::vector<uint32_t> gpus;
    for (const DeviceInfo& d : list_devices())
        if (!d.caps.is_cpu) gpus.push_back(d.index);
    return gpus.empty() ? 0u : gpus[local % gpus.size()];
}

void ProcessGroup::fail(const std::string& message, int status) {
    if (size() > 1) {
        std::fprintf(stderr, "vkhalf-train: rank %d of %d: %s\n", rank(), size(), message.c_str());
        std::fflush(stderr);
#ifdef VKHALF_WITH_MPI
        impl_->mpi->abort(status);
#endif
    }
    std::fprintf(stderr, "vkhalf-train: %s\n", message.c_str());
    impl_.reset();  // one rank: MPI_Finalize, as a normal end would
    std::exit(status);
}
