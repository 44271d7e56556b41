#pragma once
// The cooperative-matrix GEMM's workgroup shapes: the catalogue every plan chooses from, and the
// tuning table that says which one a device runs per size class. The table is keyed like the
// quirk table (runtime/device_key.hpp) plus the matrix shape; its entries come from
// `vkhalf-bench gemm --sweep`, which prints them ready to paste. Where no entry matches, the plan
// takes the largest catalogue tile that still gives the device enough workgroups
// (ops/gemm.cpp, plan_coopmat).
#include <optional>
#include <span>

#include "runtime/device_key.hpp"
#include "vkhalf/ops.hpp"

namespace vkhalf::detail {

// By the output's element count, batch included: below 128 x 512, below 1024 x 1024, larger.
enum class GemmSizeClass : uint8_t { small, medium, large };
GemmSizeClass gemm_size_class(uint64_t m, uint64_t n, uint64_t batch);
const char* size_class_name(GemmSizeClass c);

struct CoopmatTuning {
    DeviceKey device;
    CoopmatShape matrix;  // the matrix shape the plan runs (the device's 16x16x16 where listed)
    GemmSizeClass size;
    CoopmatTile tile;
    const char* measured;  // the sweep it came from: device, driver, date, shape, GFLOP/s
};

// Largest tiles first; the plan's fallback walks it in this order.
std::span<const CoopmatTile> coopmat_tile_catalogue();
std::span<const CoopmatTuning> coopmat_tuning_table();

// The table's tile for this device, matrix shape and size class, if an entry has one.
const CoopmatTuning* find_coopmat_tuning(const DeviceCaps& caps, const CoopmatShape& matrix, GemmSizeClass size,
                                         std::span<const CoopmatTuning> table = coopmat_tuning_table());

} // namespace vkhalf::detail
