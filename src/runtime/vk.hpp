#pragma once
// The one way into Vulkan inside vkhalf: volk's function pointers (the loader is opened at run
// time) plus definitions the build's headers may lack.
#include <volk.h>

#include "runtime/vk_compat.hpp"
