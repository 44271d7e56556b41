// Data parallel, the library side (no MPI needed): the ranks' agreement checks and the Trainer's
// two-submission step around a host all-reduce. tests/python/distributed_check.py runs two real
// MPI ranks.
#include <doctest/doctest.h>

#include <cmath>

#include "support.hpp"

using namespace vkhalf;

namespace {

// A stand-in group: `size` ranks of which this is `rank`; the peers' all-gather values are
// given, and an all-reduce adds `peer_scale` times this rank's values (peers with proportional
// gradients), or an inf at element 0 when `peer_overflows`.
struct FakeGroup final : Communicator {
    int my_rank = 0, ranks = 1;
    std::vector<uint64_t> gathered;  // empty: every rank sends the same value
    float peer_scale = 0.0f;
    bool peer_overflows = false;
    int reductions = 0;

    int rank() const override { return my_rank; }
    int size() const override { return ranks; }
    void allreduce_sum(std::span<float> v) override {
        ++reductions;
        for (float& x : v) x += peer_scale * x;
        if (peer_overflows && !v.empty()) v[0] = INFINITY;
    }
    void allreduce_sum(std::span<double> v) override {
        for (double& x : v) x *= double(ranks);
    }
    std::vector<uint64_t> allgather(uint64_t value) override {
        return gathered.empty() ? std::vector<uint64_t>(std::size_t(ranks), value) : gathered;
    }
};

std::unique_ptr<Sequential> small_mlp(int d) {
    auto m = std::make_unique<Sequential>();
    m->emplace<Linear>(d, 32).emplace<ReLU>().emplace<Linear>(32, 10);
    return m;
}

std::vector<float> train_steps(Context& ctx, const DeviceDataset& data, Communicator* comm, int steps) {
    auto model = small_mlp(int(data.features));
    TrainerOptions o;
    o.batch = 64;
    o.seed = 11;
    o.communicator = comm;
    Trainer tr(ctx, *model, data, o);
    tr.shuffle(0);
    for (int s = 0; s < steps; ++s) tr.step();
    return test::flat_floats(tr.parameters(), &ParameterChunk::master);
}

} // namespace

TEST_SUITE("distributed") {

TEST_CASE("check_ranks_agree names every rank that differs from rank 0") {
    FakeGroup g;
    g.ranks = 4;
    g.gathered = {7, 7, 7, 7};
    CHECK_NOTHROW(check_ranks_agree(g, "model", 7));
    g.gathered = {7, 8, 7, 9};
    try {
        check_ranks_agree(g, "model", 7);
        FAIL("no DistributedError");
    } catch (const DistributedError& e) {
        CHECK(std::string(e.what()).find("disagree on the model: rank(s) 1, 3 differ from rank 0 (4 ranks)") !=
              std::string::npos);
    }
    CHECK(fingerprint_bytes({}) != fingerprint_bytes(std::as_bytes(std::span("a", 1))));
}

TEST_CASE("one rank: the two-submission step with a host all-reduce trains bit for bit like one submission") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 512, 64, 21);
    FakeGroup solo;
    const auto plain = train_steps(ctx, data, nullptr, 12);
    const auto split = train_steps(ctx, data, &solo, 12);
    CHECK(solo.reductions == 12);
    CHECK(plain == split);
    test::check_validation(ctx);
}

TEST_CASE("rank 1 of 2: gathers its half of the global batch, and an overflow on a peer skips the step here") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 512, 64, 22);
    auto model = small_mlp(64);
    FakeGroup peer;
    peer.ranks = 2;
    peer.my_rank = 1;
    peer.peer_scale = 1.0f;  // the peer's gradient equals this rank's
    TrainerOptions o;
    o.batch = 64;
    o.communicator = &peer;
    Trainer tr(ctx, *model, data, o);
    CHECK(tr.steps_per_epoch() == 512 / 64);  // of global batches
    tr.step();
    Metrics m = tr.metrics(true);
    CHECK(m.seen == 64);  // 32 rows here, summed over the two (fake) ranks
    CHECK(m.skipped == 0);
    const auto before = test::flat_floats(tr.parameters(), &ParameterChunk::master);
    peer.peer_overflows = true;
    tr.step();
    m = tr.metrics();
    CHECK(m.skipped == 1);
    CHECK(m.loss_scale == 32768.0f);
    CHECK(test::flat_floats(tr.parameters(), &ParameterChunk::master) == before);
    test::check_validation(ctx);
}

TEST_CASE("the global batch must divide among the ranks") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 256, 64, 23);
    auto model = small_mlp(64);
    FakeGroup three;
    three.ranks = 3;
    TrainerOptions o;
    o.batch = 64;
    o.communicator = &three;
    CHECK_THROWS_WITH_AS(Trainer(ctx, *model, data, o), doctest::Contains("multiple of the 3 ranks"), ShapeError);
}

TEST_CASE("a rank with another model, other data or other options refuses to train, naming the rank") {
    auto& ctx = test::full_device();
    const DeviceDataset data = test::synthetic(ctx, 256, 64, 24);
    auto model = small_mlp(64);
    FakeGroup g;
    g.ranks = 2;
    g.gathered = {1, 2};  // every fingerprint differs on rank 1: the first check (the model) fails
    TrainerOptions o;
    o.batch = 64;
    o.communicator = &g;
    CHECK_THROWS_WITH_AS(Trainer(ctx, *model, data, o), doctest::Contains("disagree on the model: rank(s) 1"),
                         DistributedError);
}

}  // TEST_SUITE
