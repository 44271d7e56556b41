#pragma once
// What the library itself may do with a Program and users may not: record its own commands
// around the graph's into the same submission (the Trainer's batch gather before the forward,
// the finite check, optimizer and loss-scale update after the backward).
#include <functional>

#include "runtime/command_list.hpp"
#include "vkhalf/autograd.hpp"

namespace vkhalf::detail {

struct ProgramHooks {
    std::function<void(CommandList&)> before, after;
};

struct ProgramAccess {
    static Program compile(Builder& b, std::vector<Binding> outputs, CompileOptions options,
                           const ProgramHooks& hooks) {
        return Program(b, std::move(outputs), options, &hooks);
    }
};

} // namespace vkhalf::detail
