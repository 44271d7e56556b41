#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Mean squared error of y against t (n elements in rows of pc.cols), in fp32 whatever the storage:
//   loss[0] = sum_i (y_i - t_i)^2 / n
//   dy_i    = seed * 2 * (y_i - t_i) / pc.mean_over     (WITH_GRAD)
// Plain (the eager op, a graph's mse_loss): seed = pc.scale, the host's, and mean_over = n.
// WITH_STATE (a Trainer's loss, like softmax_xent): seed = the loss scale S in the training state,
// mean_over the elements of the global batch (n for one process and one micro-batch), and
//   st.loss_sum += sum_i (y_i - t_i)^2 / pc.cols   (each row's mean over its outputs)
//   st.seen     += rows
//   st.correct  += rows whose largest y is where their largest t is (with one-hot targets: accuracy)
// One workgroup: a grid-strided fp32 sum reduced in shared memory (a loss is small).
#define TRAIN_STATE_BINDING 4
#include "train_state.glsl"

layout(constant_id = 1) const bool WITH_GRAD = true;
layout(constant_id = 2) const bool WITH_STATE = false;

layout(binding = 0) readonly buffer Y_ { sfp Y[]; };
layout(binding = 1) readonly buffer T_ { sfp T[]; };
layout(binding = 2) buffer DY_ { sfp DY[]; };
layout(binding = 3) writeonly buffer Loss_ { float loss[]; };
layout(push_constant) uniform Push { uint n; float scale; uint cols; uint mean_over; } pc;

PAIR_LOAD(Y)
PAIR_LOAD(T)
PAIR_STORE(DY)
SCALAR_LOAD(Y)
SCALAR_LOAD(T)
shared float partial[gl_WorkGroupSize.x];
shared uint agree[gl_WorkGroupSize.x];

// Rows r strided over the invocations: does row r's largest y sit where its largest t does?
uint rows_agreeing(uint lid) {
    uint count = 0u;
    for (uint r = lid; r * pc.cols < pc.n; r += gl_WorkGroupSize.x) {
        uint base = r * pc.cols, best_y = 0u, best_t = 0u;
        float top_y = float(Y_load(base)), top_t = float(T_load(base));
        for (uint c = 1u; c < pc.cols; ++c) {
            float y = float(Y_load(base + c)), t = float(T_load(base + c));
            if (y > top_y) { top_y = y; best_y = c; }
            if (t > top_t) { top_t = t; best_t = c; }
        }
        count += best_y == best_t ? 1u : 0u;
    }
    return count;
}

void main() {
    uint lid = gl_LocalInvocationID.x;
    float seed = WITH_STATE ? st.scale : pc.scale;
    float acc = 0.0, g = seed * 2.0 / float(pc.mean_over);
    for (uint p = lid; 2u * p < pc.n; p += gl_WorkGroupSize.x) {
        vec2 d = vec2(Y_load2(p, pc.n)) - vec2(T_load2(p, pc.n));   // padding reads 0 - 0
        acc += d.x * d.x + d.y * d.y;
        if (WITH_GRAD) DY_store2(p, pc.n, afp2(g * d));
    }
    partial[lid] = acc;
    agree[lid] = WITH_STATE ? rows_agreeing(lid) : 0u;
    barrier();
    for (uint stride = gl_WorkGroupSize.x / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            partial[lid] += partial[lid + stride];
            agree[lid] += agree[lid + stride];
        }
        barrier();
    }
    if (lid != 0u) return;
    loss[0] = partial[0] / float(pc.n);
    if (WITH_STATE) {
        st.loss_sum += partial[0] / float(pc.cols);
        st.correct += agree[0];
        st.seen += pc.n / pc.cols;
    }
}
