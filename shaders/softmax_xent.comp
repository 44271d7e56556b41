#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Per row r of logits z [B, C] with label y and label smoothing e: (all in fp32, whatever the storage)
//   q_r    = (1 - e) * onehot(y) + e / C           (torch.nn.CrossEntropyLoss(label_smoothing=e))
//   loss_r = logsumexp(z_r) - sum_c q_rc z_rc      (max subtracted: finite for any fp16 logits)
//   dz_r   = S * (softmax(z_r) - q_r) / N          (mean over the batch, seeded with loss scale S;
//                                                   N = B, or the global batch of a data-parallel rank)
//   st.loss_sum += sum_r loss_r, st.correct += #(argmax z_r == y), st.seen += B
// One workgroup; rows are strided over its invocations and the metrics reduced in shared memory.
#define TRAIN_STATE_BINDING 3
#include "train_state.glsl"

layout(constant_id = 1) const bool WITH_GRAD = true;    // false: evaluation, metrics only

layout(binding = 0) readonly buffer Z_ { sfp Z[]; };
layout(binding = 1) readonly buffer Labels_ { uint labels[]; };
layout(binding = 2) buffer DZ_ { sfp DZ[]; };
layout(push_constant) uniform Push { uint batch, classes; float smoothing; uint mean_over; } pc;

SCALAR_LOAD(Z)
ELEMENT_STORE(DZ)

shared float loss_part[gl_WorkGroupSize.x];
shared uint correct_part[gl_WorkGroupSize.x];

float logit(uint i) { return float(Z_load(i)); }

void main() {
    uint lid = gl_LocalInvocationID.x;
    float seed = WITH_GRAD ? st.scale / float(pc.mean_over) : 0.0;
    float loss = 0.0;
    uint correct = 0u;
    for (uint r = lid; r < pc.batch; r += gl_WorkGroupSize.x) {
        uint base = r * pc.classes, label = labels[r];
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
        st.seen += pc.batch;
    }
}
