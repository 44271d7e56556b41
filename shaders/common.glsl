// common.glsl: one source, every precision tier.
//
// The build defines exactly one of these per SPIR-V module:
//   VKH_F32   storage float,               math float
//   VKH_F16P  storage uint = two fp16,     math float   (packHalf2x16: any Vulkan 1.1 device)
//   VKH_F16S  storage float16_t,           math float   (needs storageBuffer16BitAccess)
//   VKH_F16A  storage float16_t,           math fp16    (also needs shaderFloat16)
//   VKH_COOPMAT  as f16a, for VK_KHR_cooperative_matrix kernels (GEMM only)
// Accumulators (sums, dot products) are float in every tier.
//
// sfp  = the element type a storage buffer is declared with
// afp  = the arithmetic type of element-wise math; afp2 its 2-vector
// Kernels work on element pairs (2p, 2p+1) so the packed tier never needs a read-modify-write.

#if defined(VKH_F16S) || defined(VKH_F16A) || defined(VKH_COOPMAT)
#extension GL_EXT_shader_16bit_storage : require
#endif
#if defined(VKH_F16A) || defined(VKH_COOPMAT)
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif

// sfp4 = the type a buffer of aligned 4-element groups is declared with (vec4 loads).
#if defined(VKH_F16P)
#define VKH_PACKED 1
#define sfp uint
#define sfp4 uvec2
#define afp float
#define afp2 vec2
#define afp4 vec4
#elif defined(VKH_F16S)
#define sfp float16_t
#define sfp4 f16vec4
#define afp float
#define afp2 vec2
#define afp4 vec4
#elif defined(VKH_F16A)
#define sfp float16_t
#define sfp4 f16vec4
#define afp float16_t
#define afp2 f16vec2
#define afp4 f16vec4
#elif defined(VKH_COOPMAT)
// Cooperative-matrix kernels: fp16 storage and fp16 operands, fp32 accumulator matrices.
#define sfp float16_t
#define sfp4 f16vec4
#define afp float16_t
#define afp2 f16vec2
#define afp4 f16vec4
#elif defined(VKH_F32)
#define sfp float
#define sfp4 vec4
#define afp float
#define afp2 vec2
#define afp4 vec4
#else
#error "define one of VKH_F32, VKH_F16P, VKH_F16S, VKH_F16A, VKH_COOPMAT"
#endif

// PAIR_LOAD(arr) defines  afp2 arr_load2(uint p, uint n): elements 2p and 2p+1 of an n-element
// array; an element at index >= n reads as 0 (the packed tier's padding half is never trusted).
// PAIR_STORE(arr) defines void arr_store2(uint p, uint n, afp2 v); it never writes past element
// n-1: for an odd n the packed tier replaces only the low half of the last uint (atomically: the
// high half may belong to a neighbouring tensor view).
#ifdef VKH_PACKED
#define PAIR_LOAD(arr)                                                  \
    afp2 arr##_load2(uint p, uint n) {                                  \
        afp2 v = unpackHalf2x16(arr[p]);                                \
        if (2u * p + 1u >= n) v.y = afp(0);                             \
        return v;                                                       \
    }
#define PAIR_STORE(arr)                                                 \
    void arr##_store2(uint p, uint n, afp2 v) {                         \
        if (2u * p + 1u < n) {                                          \
            arr[p] = packHalf2x16(vec2(v));                             \
        } else {                                                        \
            atomicAnd(arr[p], 0xffff0000u);                             \
            atomicOr(arr[p], packHalf2x16(vec2(v.x, 0.0)) & 0xffffu);   \
        }                                                               \
    }
#else
#define PAIR_LOAD(arr)                                                  \
    afp2 arr##_load2(uint p, uint n) {                                  \
        uint i = 2u * p;                                                \
        afp2 v = afp2(afp(arr[i]), afp(0));                             \
        if (i + 1u < n) v.y = afp(arr[i + 1u]);                         \
        return v;                                                       \
    }
#define PAIR_STORE(arr)                                                 \
    void arr##_store2(uint p, uint n, afp2 v) {                         \
        uint i = 2u * p;                                                \
        arr[i] = sfp(v.x);                                              \
        if (i + 1u < n) arr[i + 1u] = sfp(v.y);                         \
    }
#endif

// SCALAR_LOAD(arr) defines afp arr_load(uint i): one element of a read-only array in any tier
// (the packed tier picks the half out of its uint).
#ifdef VKH_PACKED
#define SCALAR_LOAD(arr) \
    afp arr##_load(uint i) { return unpackHalf2x16(arr[i >> 1])[i & 1u]; }
#else
#define SCALAR_LOAD(arr) \
    afp arr##_load(uint i) { return afp(arr[i]); }
#endif

// VEC4_LOAD(arr4) defines afp4 arr4_load4(uint q): the q-th aligned group of four elements of a
// buffer declared as sfp4[] (elements 4q..4q+3).
#ifdef VKH_PACKED
#define VEC4_LOAD(arr4) \
    afp4 arr4##_load4(uint q) { uvec2 u = arr4[q]; return vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y)); }
#else
#define VEC4_LOAD(arr4) \
    afp4 arr4##_load4(uint q) { return afp4(arr4[q]); }
#endif

// ELEMENT_STORE(arr) defines void arr_store1(uint i, float v): one element of a writable array
// that other invocations write too. The packed tier replaces its half of the uint with two
// atomics so a neighbour's half is never clobbered.
#ifdef VKH_PACKED
#define ELEMENT_STORE(arr)                                                  \
    void arr##_store1(uint i, float v) {                                    \
        uint shift = (i & 1u) * 16u;                                        \
        atomicAnd(arr[i >> 1], ~(0xffffu << shift));                        \
        atomicOr(arr[i >> 1], (packHalf2x16(vec2(v, 0.0)) & 0xffffu) << shift); \
    }
#else
#define ELEMENT_STORE(arr) \
    void arr##_store1(uint i, float v) { arr[i] = sfp(v); }
#endif

// MAC4(acc, a, b): acc += dot(a, b) over four products, fp32 sum (fp16 products in f16a).
#ifdef VKH_F16A
#define MAC4(acc, a, b) acc += dot(vec4((a) * (b)), vec4(1.0))
#else
#define MAC4(acc, a, b) acc += dot(vec4(a), vec4(b))
#endif

// MAC(acc, a, b): acc += a*b with acc in fp32. In the f16a tier the product is an fp16 multiply
// (its point: fp16 ALUs), the sum is fp32; elsewhere one fp32 fma.
#ifdef VKH_F16A
#define MAC(acc, a, b) acc += float((a) * (b))
#else
#define MAC(acc, a, b) acc = fma(float(a), float(b), acc)
#endif

// Every kernel's workgroup is 1-D with its size in specialization constant 0, set by the host
// (PipelineDesc::workgroup_size). Declared here, before any use of gl_WorkGroupSize: glslang folds
// gl_WorkGroupSize to the default (1) in code that precedes the declaration.
layout(local_size_x_id = 0) in;

// Linear invocation index over a 2-D grid of workgroups: a dispatch may exceed
// maxComputeWorkGroupCount[0] (65535 on many devices), so the host spills into y.
uint linear_invocation() {
    uint group = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    return group * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
}

// Bit-exact fp32 -> fp16, round to nearest even, subnormals kept, inf kept, NaN stays NaN (quiet,
// top payload bits kept). Integer-only, so no driver rounding mode or denormal flush can change it.
uint f32_bits_to_f16_rne(uint x) {
    uint sign = (x >> 16) & 0x8000u;
    uint ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u)                       // inf or NaN
        return sign | 0x7c00u | (ax > 0x7f800000u ? (0x0200u | ((ax >> 13) & 0x03ffu)) : 0u);
    if (ax >= 0x477ff000u) return sign | 0x7c00u; // >= 65520 rounds to inf
    if (ax >= 0x38800000u) {                      // normal fp16 range, >= 2^-14
        uint odd = (ax >> 13) & 1u;
        return sign | ((ax - 0x38000000u + 0x0fffu + odd) >> 13);  // rebias exponent by 112, round
    }
    uint e = ax >> 23;                            // fp16 subnormal or zero
    uint shift = 126u - e;                        // value * 2^24 = mantissa >> shift
    if (shift > 24u) return sign;                 // below half of the smallest subnormal
    uint m = (ax & 0x007fffffu) | 0x00800000u;
    uint r = m >> shift;
    uint rem = m & ((1u << shift) - 1u);
    uint halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (r & 1u) != 0u)) r += 1u;
    return sign | r;
}

// Bit-exact fp16 -> fp32 (every fp16 value, subnormals included, is exact in fp32).
uint f16_bits_to_f32(uint h) {
    uint sign = (h & 0x8000u) << 16;
    uint e = (h >> 10) & 0x1fu;
    uint m = h & 0x03ffu;
    if (e == 31u) return sign | 0x7f800000u | (m << 13);
    if (e != 0u) return sign | ((e + 112u) << 23) | (m << 13);
    if (m == 0u) return sign;
    // subnormal m * 2^-24: normalise the mantissa in integers
    uint lz = 10u - uint(findMSB(m));             // shifts until bit 10 is set
    return sign | ((113u - lz) << 23) | (((m << lz) & 0x03ffu) << 13);
}
