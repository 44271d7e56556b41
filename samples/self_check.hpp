#pragma once
// A quick end-to-end check of the device: each first kernel against a CPU reference.
#include <vkhalf/vkhalf.hpp>

// Prints one line per check; returns the number of failures.
int run_self_check(vkhalf::Context& ctx);
