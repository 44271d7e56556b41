#pragma once
// The graph a Builder records: values (shape, dtype, producer) and nodes (an op, its operands,
// its attributes). Every node has one output value; leaves bind an external tensor.
#include <string>
#include <vector>

#include "vkhalf/autograd.hpp"
#include "vkhalf/norm.hpp"

namespace vkhalf::detail {

enum class OpKind : uint8_t {
    leaf,                    // an input or parameter: an external tensor
    constant,                // a host-known [1] f32 scalar (the gradient seed); never on the device
    matmul,                  // op(a) op(b)
    add_bias,                // x + b over rows or channels
    bias_grad,               // the sum add_bias's gradient needs
    add,                     // a + b (accumulate: a gradient sum grad() made)
    mul,                     // a * b
    div,                     // a / b
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
    max_pool2d,           // y, and the argmax (aux) its backward scatters through
    max_pool2d_backward,  // dx from dy and the argmax
    batch_norm2d,           // y; training: batch statistics saved, running ones updated (in attrs.bn_stats)
    batch_norm2d_backward,  // dx; dgamma and dbeta (aux)
    layer_norm,             // y, and per-row mean and 1/std (aux, f32)
    layer_norm_backward,    // dx; dgamma and dbeta (aux)
    dropout,                // y = x * mask / (1 - p), the mask drawn from attrs.rng_state
    dropout_backward,       // dx with the same mask
    softmax_xent,       // a loss handle: the kernel adds loss, correct and seen to attrs.state
    softmax_xent_grad,  // dz = S (softmax - onehot) / rows, S the loss scale in attrs.state
    permute,   // y = x with its dimensions reordered (attrs.dims)
    slice,     // attrs.length entries of attrs.axis from attrs.start
    pad,       // the slice's gradient: x placed at attrs.start of attrs.axis in zeros of attrs.shape
    expand,    // broadcast to attrs.shape (numpy rules: aligned right, extents 1 repeat)
    row_sum,   // [r, c] -> [r]: sums of rows, fp32 accumulation
    col_sum,   // [r, c] -> [c]
    embedding,           // rows of a table [V, D] at u32 indices
    embedding_backward,  // dtable: dy's rows summed per index (fp32, token order)
    softmax,             // over the last axis; attrs.softmax: plain, causal (scores [.., T, T]) or log
    softmax_backward,    // dx from the forward's output y and dy
    causal_attention,           // y [n, T, C] from qkv [n, T, 3C] (attrs.heads), and lse (aux, f32)
    causal_attention_backward,  // dqkv from dy, qkv, y and lse; delta (aux, f32 scratch)
    cast,                       // f32 <-> f16 (attrs.dtype: the target), round to nearest even
    count
};

// Builder::apply's attributes (matmul's transposes, scale's alpha, the activation, reshape's and
// expand's target shape, conv and pool parameters, layer_norm's eps), plus what only the
// library sets.
struct Attrs : OpAttributes {
    BiasMode bias_mode = BiasMode::per_column;
    bool accumulate = false;                  // add: a gradient sum made by grad()
    std::vector<int64_t> dims;                // permute: y's dimension k is x's dims[k]
    int64_t axis = 0, start = 0, length = 0;  // slice, pad (shape: pad's and the backward ops' output)
    // Normalisation, dropout and the loss: their parameters and the device state they use.
    BatchNormParams bn;
    BatchNormStats bn_stats;
    bool training = true;
    float p = 0.0f;     // dropout
    Tensor rng_state;   // dropout: {seed, offset}
    int source = -1;    // dropout_backward: the forward's output value (its mask)
    Tensor state;       // softmax_xent: the TrainState
    float label_smoothing = 0.0f;
    uint32_t mean_over = 0;  // softmax_xent: rows the gradient averages over (0: the batch)
    uint32_t ignore_index = 0xffffffffu;  // softmax_xent: rows with this label do not count (~0u: none)
    SoftmaxKind softmax = SoftmaxKind::softmax;
};

struct Node {
    OpKind kind = OpKind::leaf;
    std::vector<int> inputs;  // value ids
    int output = -1;          // value id
    std::vector<int> aux;     // further outputs the same kernel writes (value ids)
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
