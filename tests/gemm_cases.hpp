#pragma once
// GEMM cases shared by the portable-kernel suite (test_gemm.cpp) and the cooperative-matrix suite
// (test_coopmat.cpp): each runs one product on the device and compares it with the fp64
// reference, element by element, with a tolerance for the storage and arithmetic types.
#include <optional>
#include <string>

#include <vkhalf/vkhalf.hpp>

namespace test {

struct Case {
    int m, n, k, batch = 1;
    bool trans_a = false, trans_b = false, a_batched = false, b_batched = false;
    float alpha = 1, beta = 0;
    int bias_mode = 0;        // 0 none, 1 per column, 2 per row
    bool relu = false;
    bool out_f32 = false;     // f16 inputs: C in fp32
    uint32_t split_k = 1;
    std::optional<vkhalf::CoopmatTile> tile;  // coopmat: this workgroup shape, not the tuning table's
};

// 1, primes, non-multiples of every tile; shapes whose contiguous dimensions are multiples of 4
// (the regblock kernel's vec4 and shared-A paths) with edges in M and N and a K tail; and one wider
// than the small device's 64 workgroups (several dispatches).
inline const Case kShapes[] = {{1, 1, 1},     {7, 13, 5},   {33, 17, 65},   {64, 64, 64}, {100, 37, 129},
                               {2, 130, 3},   {4, 4, 4},    {132, 68, 40},  {36, 20, 70}, {68, 132, 200},
                               {3, 4500, 6}};

// Tolerance per element: fp32 accumulation error bound (k+2 fp32 ulps of sum |a b|), plus the
// f16a tier's fp16 products (one fp16 rounding of each: 2^-11 of sum |a b|), plus one ulp of the
// output's storage type (either rounding direction) and the smallest fp16 subnormal.
bool gemm_close(double got, double want, double magnitude, int k, vkhalf::Variant v, bool out_f16);

// Runs t in tier v (coopmat: the cooperative-matrix kernel) on `kernel` (default: the policy's),
// checks it against fp64 and that the kernel asked for is the one that ran; returns the plan.
std::string run_case(vkhalf::Context& ctx, vkhalf::Variant v, std::optional<vkhalf::GemmKernel> kernel,
                     const Case& t, unsigned seed);

// A product over views into wider buffers, as the lowered convolution uses them: leading
// dimensions past the row (a multiple of 4) and batch strides past the matrix. Pads hold NaN in A
// and B (a result that reads one is NaN) and a sentinel in C, which must survive.
struct PaddedView {
    int m, n, k, batch;
};
inline const PaddedView kPaddedViews[] = {{7, 13, 5, 1}, {33, 17, 65, 2}, {37, 101, 44, 3}};
void run_padded_view_case(vkhalf::Context& ctx, vkhalf::Variant v, std::optional<vkhalf::GemmKernel> kernel,
                          const PaddedView& w, bool ta, bool tb);

// Sums whose running value passes 65504 (an fp16 accumulator would overflow to inf) must come out
// exact: rows of eight 1e4 then eight -1e4, sixteen 1e4, and alternating signs, times ones.
void check_fp32_accumulation(vkhalf::Context& ctx, vkhalf::Variant v, std::optional<vkhalf::GemmKernel> kernel);

// The kernel name describe_gemm() starts with for this request.
bool plan_runs(const std::string& plan, vkhalf::Variant v, std::optional<vkhalf::GemmKernel> kernel);

} // namespace test
