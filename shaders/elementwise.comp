#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// y[i] = op(a[i], b[i]) for OP in:
//   0 ADD a+b   1 MUL a*b   2 SCALE alpha*a   3 RELU max(a,0)   4 RELU_BACKWARD a*(b>0) (a=dy, b=x)
//   5 DIV a/b (in fp32 in every tier: fp16's reciprocal is coarse)
// Math in afp (fp16 only in the f16a tier); unary ops bind a twice.
layout(constant_id = 1) const uint OP = 0;

layout(binding = 0) readonly buffer A_ { sfp A[]; };
layout(binding = 1) readonly buffer B_ { sfp B[]; };
layout(binding = 2) writeonly buffer Y_ { sfp Y[]; };
layout(push_constant) uniform Push { uint n; float alpha; } pc;

PAIR_LOAD(A)
PAIR_LOAD(B)
PAIR_STORE(Y)

void main() {
    uint p = linear_invocation();
    if (2u * p >= pc.n) return;
    afp2 a = A_load2(p, pc.n);
    afp2 y;
    if (OP == 0u) {
        y = a + B_load2(p, pc.n);
    } else if (OP == 1u) {
        y = a * B_load2(p, pc.n);
    } else if (OP == 2u) {
        y = afp(pc.alpha) * a;
    } else if (OP == 3u) {
        y = max(a, afp2(0));
    } else if (OP == 5u) {
        y = afp2(vec2(a) / vec2(B_load2(p, pc.n)));
    } else {
        afp2 x = B_load2(p, pc.n);
        y = afp2(x.x > afp(0) ? a.x : afp(0), x.y > afp(0) ? a.y : afp(0));
    }
    Y_store2(p, pc.n, y);
}
