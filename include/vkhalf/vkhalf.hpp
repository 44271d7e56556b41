#pragma once
// The whole public C++ API of vkhalf.
#include "vkhalf/activations.hpp"
#include "vkhalf/build_config.hpp"
#include "vkhalf/context.hpp"
#include "vkhalf/device.hpp"
#include "vkhalf/error.hpp"
#include "vkhalf/graph.hpp"
#include "vkhalf/half.hpp"
#include "vkhalf/nn.hpp"
#include "vkhalf/ops.hpp"
#include "vkhalf/tensor.hpp"
#include "vkhalf/train.hpp"
#include "vkhalf/types.hpp"
