#pragma once
// Test devices and helpers shared by every suite.
//
// Each kernel test runs on two Contexts over the same physical device:
//   "full"  - the device as it is (quirks and env overrides applied)
//   "small" - an emulated small device: no 16-bit storage (so fp16 runs in the packed tier),
//             16 KiB shared memory, 1 MiB maxStorageBufferRange, 64 workgroups per grid dimension
//             (forcing 2-D dispatch grids), and uploads/downloads through a 64 KiB staging buffer.
// Both have the validation layer on when it is installed; check_validation() fails the test on
// any message.
#include <string>
#include <vector>

#include <vkhalf/vkhalf.hpp>

namespace test {

struct TestDevice {
    std::string label;
    vkhalf::Context* ctx;
};

std::vector<TestDevice> devices();
// One Context per cooperative-matrix shape the device lists (DeviceOptions::coopmat_shape), each
// labelled "coopmat MxNxK"; empty where the device has none or the build left the shaders out.
// With VKHALF_EXPECT_COOPMAT=1 (the Mesa 26.1 CI stage) an empty list fails the calling test.
std::vector<TestDevice> coopmat_devices();
vkhalf::Context& full_device();
vkhalf::Context& small_device();
vkhalf::DeviceOptions small_device_options();
// Destroys the shared Contexts above (main() calls it once the tests have run).
void release_devices();

// Every tier of `dtype` this Context supports (f32 -> {f32}; f16 -> f16p, f16s, f16a as available).
std::vector<vkhalf::Variant> variants(const vkhalf::Context& ctx, vkhalf::DType dtype);

// CHECKs that the Context received no validation message since the last call, printing them.
void check_validation(vkhalf::Context& ctx);
// For a test that provokes validation messages (or allocator-check findings) on purpose: returns
// the Context's messages, clears them, and counts them as expected. main() fails the run for every
// message any Context of the process printed beyond those (tests/main.cpp).
std::vector<std::string> take_expected_validation_messages(vkhalf::Context& ctx);
std::size_t expected_validation_messages();

// Deterministic uniform values in [lo, hi], rounded to fp16 when `f16` so the host holds exactly
// what the device stores.
std::vector<float> random_values(std::size_t n, float lo, float hi, unsigned seed, bool f16);

// (loss(v with v[i] + h) - loss(v with v[i] - h)) / 2h, v[i] restored: the central difference
// every reference backward is checked against.
template <typename Loss>
double central_difference(std::vector<float>& v, std::size_t i, float h, const Loss& loss) {
    const float keep = v[i];
    v[i] = keep + h;
    const double up = loss();
    v[i] = keep - h;
    const double down = loss();
    v[i] = keep;
    return (up - down) / (2.0 * double(h));
}

// A separable synthetic classification problem: 10 classes, a random u8 prototype each, normal
// noise (sigma 40) around it; n examples of d features, uploaded.
vkhalf::DeviceDataset synthetic(vkhalf::Context& ctx, int n, int d, unsigned seed);

// Every chunk's buffer of one kind (&ParameterChunk::master, ...) as floats, chunk after chunk.
std::vector<float> flat_floats(const vkhalf::ParameterSet& p, vkhalf::Tensor vkhalf::ParameterChunk::*buffer);

// One epoch: the epoch's shuffle, then every step of it.
void train_epoch(vkhalf::Trainer& tr, int epoch);
// Epochs 0..n-1.
void train_epochs(vkhalf::Trainer& tr, int n);

} // namespace test
