#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Per row r of logits z [B, C] with label y and label smoothing e: (all in fp32, whatever the storage)
//   q_r    = (1 - e) * onehot(y) + e / C           (torch.nn.CrossEntropyLoss(label_smoothing=e))
//   loss_r = logsumexp(z_r) - sum_c q_rc z_rc      (max subtracted: finite for any fp16 logits)
//   dz_r   = S * (softmax(z_r) - q_r) / N          (mean over the batch, seeded with loss scale S;
//                                                   N = B, or the global batch of a data-parallel rank)
//   st.loss_sum += sum_r loss_r, st.correct += #(argmax z_r == y), st.seen += B
// A row whose label is pc.ignore (torch's ignore_index; ~0u: none) has no loss and dz_r = 0, and
// does not count: N and st.seen count the other rows (a first pass counts them).
// One workgroup; rows are strided over its invocations and the metrics reduced in shared memory.
#define TRAIN_STATE_BINDING 3
#include "train_state.glsl"

layout(constant_id = 1) const bool WITH_GRAD = true;    // false: evaluation, metrics only

layout(binding = 0) readonly buffer Z_ { sfp Z[]; };
layout(binding = 1) readonly buffer Labels_ { uint labels[]; };
layout(binding = 2) buffer DZ_ { sfp DZ[]; };
layout(push_constant) uniform Push { uint batch, classes; float smoothing; uint mean_over; uint ignore; } pc;

SCALAR_LOAD(Z)
ELEMENT_STORE(DZ)

shared float loss_part[gl_WorkGroupSize.x];
shared uint correct_part[gl_WorkGroupSize.x];

float logit(uint i) { return float(Z_load(i)); }

// The rows that count: all of them, or those whose label is not pc.ignore (every invocation
// gets the workgroup's total).
uint counted_rows() {
    if (pc.ignore == 0xffffffffu) return pc.batch;
    uint lid = gl_LocalInvocationID.x, n = 0u;
    for (uint r = lid; r < pc.batch; r += gl_WorkGroupSize.x) n += labels[r] != pc.ignore ? 1u : 0u;
    correct_part[lid] = n;
    barrier();
    for (uint stride = gl_WorkGroupSize.x / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) correct_part[lid] += correct_part[lid + stride];
        barrier();
    }
    n = correct_part[0];
    barrier();  // correct_part is reused below
    return n;
}

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint counted = counted_rows();
    uint mean_over = pc.ignore == 0xffffffffu ? pc.mean_over : counted;
    float seed = WITH_GRAD && mean_over > 0u ? st.scale / float(mean_over) : 0.0;
    float loss = 0.0;
    uint correct = 0u;
    for (uint r = lid; r < pc.batch; r += gl_WorkGroupSize.x) {
        uint base = r * pc.classes, label = labels[r];
        if (label == pc.ignore) {
            if (WITH_GRAD)
                for (uint c = 0u; c < pc.classes; ++c) DZ_store1(base + c, 0.0);
            continue;
        }
        float zmax = logit(base);
        uint best = 0u;
        for (uint c = 1u; c < pc.classes; ++c) {
            float z = logit(base + c);
            if (z > zmax) { zmax = z; best = c; }
        }
        float sum = 0.0, mean_logit = 0.0;
        for (uint c = 0u; c < pc.classes; ++c) {
            float z = logit(base + c);
            sum += exp(z - zmax);
            mean_logit += z;
        }
        mean_logit /= float(pc.classes);
        float lse = log(sum) + zmax;
        loss += (1.0 - pc.smoothing) * (lse - logit(base + label)) + pc.smoothing * (lse - mean_logit);
        correct += best == label ? 1u : 0u;
        if (WITH_GRAD) {
            float inv_sum = 1.0 / sum, uniform_part = pc.smoothing / float(pc.classes);
            for (uint c = 0u; c < pc.classes; ++c) {
                float p = exp(logit(base + c) - zmax) * inv_sum;
                float q = (c == label ? 1.0 - pc.smoothing : 0.0) + uniform_part;
                DZ_store1(base + c, seed * (p - q));
            }
        }
    }
    loss_part[lid] = loss;
    correct_part[lid] = correct;
    barrier();
    for (uint stride = gl_WorkGroupSize.x / 2u; stride > 0u; stride >>= 1u) {
        if (lid < stride) {
            loss_part[lid] += loss_part[lid + stride];
            correct_part[lid] += correct_part[lid + stride];
        }
        barrier();
    }
    if (lid == 0u) {
        st.loss_sum += loss_part[0];
        st.correct += correct_part[0];
        st.seen += counted;
    }
}
