#pragma once
// Causal self-attention over a packed projection in fp64: qkv [n, T, 3C], heads of d = C / heads.
#include <vector>

namespace ref {

// y [n, T, C] (heads side by side).
std::vector<double> causal_attention(const std::vector<double>& qkv, int n, int T, int heads, int d);
// dqkv [n, T, 3C] from dy [n, T, C]: the exact gradient, written out (p, dp, ds).
std::vector<double> causal_attention_backward(const std::vector<double>& qkv, const std::vector<double>& dy, int n,
                                              int T, int heads, int d);

} // namespace ref
