#pragma once
// The graph a Builder records: values (shape, dtype, producer) and nodes (an op, its operands,
// its attributes). Every node has one output value; leaves bind an external tensor.
#include <string>
#include <vector>

#include "vkhalf/autograd.hpp"

namespace vkhalf::detail {

enum class OpKind : uint8_t {
    leaf,                    // an input or parameter: an external tensor
    constant,                // a host-known [1] f32 scalar (the gradient seed); never on the device
    matmul,                  // op(a) op(b)
    add_bias,                // x + b over rows or channels
    bias_grad,               // the sum add_bias's gradient needs
    add,                     // a + b (accumulate: a gradient sum grad() made)
    mul,                     // a * b
    scale,                   // alpha * a
    relu,                    // max(x, 0)
    relu_backward,           // dy where y > 0 (y: relu's output)
    activation,              // f(x)
    activation_backward,     // dy f'(x)
    reshape,                 // a view
    conv2d,                  // conv(x, w)
    conv2d_backward_data,    // dx from dy and w
    conv2d_backward_weight,  // dw from dy and x
    avg_pool2d,
    avg_pool2d_backward,
    mse_loss,       // mean((y - t)^2)
    mse_loss_grad,  // seed * 2 (y - t) / n, from y, t and a constant seed
    count
};

struct Attrs {
    bool trans_a = false, trans_b = false;
    BiasMode bias_mode = BiasMode::per_column;
    float alpha = 1.0f;   // scale; constant's value
    bool accumulate = false;  // add: a gradient sum made by grad()
    Activation activation = Activation::gelu;
    Conv2dParams conv;
    Pool2dParams pool;
    Shape shape;  // reshape's target; the backward ops' output shape
};

struct Node {
    OpKind kind = OpKind::leaf;
    std::vector<int> inputs;  // value ids
    int output = -1;          // value id
    Attrs attrs;
};

struct ValueInfo {
    Shape shape;
    DType dtype = DType::f32;
    int producer = -1;  // node id
    // Leaves only.
    Tensor tensor;
    std::string name;
    bool requires_grad = false;
};

struct GraphIR {
    explicit GraphIR(Context& c) : ctx(c) {}
    Context& ctx;
    std::vector<Node> nodes;
    std::vector<ValueInfo> values;

    const ValueInfo& value(int id) const { return values.at(std::size_t(id)); }
    const Node& producer(int value_id) const { return nodes.at(std::size_t(value(value_id).producer)); }
    // Appends a node after inferring its output (shape and dtype checks throw named errors).
    int add_node(OpKind kind, std::vector<int> inputs, Attrs attrs);
    int add_leaf(const Tensor& t, std::string name, bool requires_grad);
};

} // namespace vkhalf::detail
