#include "runtime/spirv_requirements.hpp"

#include "runtime/vk.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

constexpr uint32_t kMagic = 0x07230203;
constexpr uint32_t kHeaderWords = 5;
constexpr uint32_t kOpCapability = 17;
constexpr uint32_t kOpExecutionModeId = 331;
constexpr uint32_t kLocalSizeId = 38;

// Calls fn(opcode, operands) for each instruction; Error for a malformed module.
template <typename Fn>
void for_each_instruction(std::span<const uint32_t> words, Fn&& fn) {
    if (words.size() < kHeaderWords || words[0] != kMagic) throw Error("SPIR-V module without a valid header");
    for (std::size_t i = kHeaderWords; i < words.size();) {
        const uint32_t count = words[i] >> 16, opcode = words[i] & 0xffff;
        if (count == 0 || i + count > words.size()) throw Error("SPIR-V instruction runs past the module's end");
        fn(opcode, words.subspan(i + 1, count - 1));
        i += count;
    }
}

} // namespace

std::vector<std::string> missing_features(std::span<const uint32_t> words, const EnabledFeatures& f) {
    std::vector<std::string> missing;
    auto need = [&](bool have, const char* what) {
        if (!have) missing.emplace_back(what);
    };
    auto subgroup = [&](VkSubgroupFeatureFlags bit) { return (f.subgroup_operations & bit) != 0; };
    for_each_instruction(words, [&](uint32_t op, std::span<const uint32_t> operands) {
        if (op == kOpExecutionModeId && operands.size() >= 2 && operands[1] == kLocalSizeId)
            need(f.maintenance4, "maintenance4 (LocalSizeId)");
        if (op != kOpCapability || operands.empty()) return;
        switch (operands[0]) {
        case 1: break;  // Shader
        case 9: need(f.float16, "shaderFloat16 (Float16)"); break;
        case 61: need(subgroup(VK_SUBGROUP_FEATURE_BASIC_BIT), "basic subgroup operations (GroupNonUniform)"); break;
        case 62: need(subgroup(VK_SUBGROUP_FEATURE_VOTE_BIT), "subgroup vote (GroupNonUniformVote)"); break;
        case 63: need(subgroup(VK_SUBGROUP_FEATURE_ARITHMETIC_BIT), "subgroup arithmetic (GroupNonUniformArithmetic)"); break;
        case 64: need(subgroup(VK_SUBGROUP_FEATURE_BALLOT_BIT), "subgroup ballot (GroupNonUniformBallot)"); break;
        case 65: need(subgroup(VK_SUBGROUP_FEATURE_SHUFFLE_BIT), "subgroup shuffle (GroupNonUniformShuffle)"); break;
        case 4433: need(f.storage16, "storageBuffer16BitAccess (StorageBuffer16BitAccess)"); break;
        case 5345: need(f.memory_model, "vulkanMemoryModel (VulkanMemoryModel)"); break;
        case 5346: need(f.memory_model_device_scope, "vulkanMemoryModelDeviceScope (VulkanMemoryModelDeviceScope)"); break;
        case 6022: need(f.cooperative_matrix, "cooperativeMatrix (CooperativeMatrixKHR)"); break;
        default:
            missing.push_back("SPIR-V capability " + std::to_string(operands[0]) + ", which vkhalf does not enable");
            break;
        }
    });
    return missing;
}

} // namespace vkhalf::detail
