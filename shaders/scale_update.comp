#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// End of a training step, one invocation (torch.amp.GradScaler.update semantics):
//   overflow:  S = max(S * backoff, min(S, min_scale)), tracker = 0   (DYNAMIC; else S stays)
//              skipped += 1, consecutive_skips += 1
//   clean:     t += 1; tracker += 1; at `interval`: S *= growth if finite, tracker = 0
//   step += 1; found_inf = 0
#define TRAIN_STATE_BINDING 0
#include "train_state.glsl"

layout(constant_id = 1) const bool DYNAMIC = true;
layout(push_constant) uniform Push {
    float growth, backoff;
    float inv_growth, inv_backoff;   // float(1/double(factor)), from the host
    uint interval;
    float min_scale, inv_min_scale;  // the floor of S (and float(1/double(floor)))
} pc;

void main() {
    if (st.found_inf != 0u) {
        if (DYNAMIC) {
            float backed_off = st.scale * pc.backoff;
            if (backed_off >= pc.min_scale) {
                st.scale = backed_off;
                st.inv_scale *= pc.inv_backoff;
            } else if (st.scale > pc.min_scale) {   // down to the floor, never below
                st.scale = pc.min_scale;
                st.inv_scale = pc.inv_min_scale;
            }                                        // at (or restored below) the floor: S stays
            st.growth_tracker = 0u;
        }
        st.skipped += 1u;
        st.consecutive_skips += 1u;
    } else {
        st.optimizer_step += 1u;
        st.consecutive_skips = 0u;
        if (DYNAMIC) {
            uint tracked = st.growth_tracker + 1u;
            if (tracked == pc.interval) {
                float grown = st.scale * pc.growth;
                if ((floatBitsToUint(grown) & 0x7f800000u) != 0x7f800000u) {   // finite
                    st.scale = grown;
                    st.inv_scale *= pc.inv_growth;
                }
                st.growth_tracker = 0u;
            } else {
                st.growth_tracker = tracked;
            }
        }
    }
    st.step += 1u;
    st.found_inf = 0u;
}
