#include "runtime/spirv_requirements.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "runtime/vk.hpp"
#include "vkhalf/error.hpp"

namespace vkhalf::detail {

namespace {

constexpr uint32_t kMagic = 0x07230203;
constexpr uint32_t kHeaderWords = 5;
constexpr uint32_t kOpCapability = 17;
constexpr uint32_t kOpExecutionModeId = 331;
constexpr uint32_t kLocalSizeId = 38;
constexpr uint32_t kOpTypeStruct = 30, kOpTypePointer = 32, kOpVariable = 59, kOpDecorate = 71, kOpMemberDecorate = 72;
constexpr uint32_t kDecorationNonWritable = 24, kDecorationBinding = 33, kDecorationOffset = 35;
constexpr uint32_t kDecorationArrayStride = 6;
constexpr uint32_t kOpTypeInt = 21, kOpTypeFloat = 22, kOpTypeVector = 23, kOpTypeArray = 28, kOpConstant = 43;
constexpr uint32_t kStorageClassPushConstant = 9;

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

StorageBindings storage_bindings(std::span<const uint32_t> words) {
    std::map<uint32_t, uint32_t> binding_of, members, pointee, type_of;  // by id
    std::set<uint32_t> nonwritable_variables;
    std::map<uint32_t, std::set<uint32_t>> nonwritable_members;  // struct id -> members
    for_each_instruction(words, [&](uint32_t op, std::span<const uint32_t> o) {
        if (op == kOpDecorate && o.size() >= 3 && o[1] == kDecorationBinding) binding_of[o[0]] = o[2];
        if (op == kOpDecorate && o.size() >= 2 && o[1] == kDecorationNonWritable) nonwritable_variables.insert(o[0]);
        if (op == kOpMemberDecorate && o.size() >= 3 && o[2] == kDecorationNonWritable) nonwritable_members[o[0]].insert(o[1]);
        if (op == kOpTypeStruct && !o.empty()) members[o[0]] = uint32_t(o.size() - 1);
        if (op == kOpTypePointer && o.size() >= 3) pointee[o[0]] = o[2];
        if (op == kOpVariable && o.size() >= 2) type_of[o[1]] = o[0];
    });
    StorageBindings b;
    for (const auto& [variable, binding] : binding_of) {
        if (binding >= 32) throw Error("SPIR-V binding " + std::to_string(binding) + " is past the 32 vkhalf supports");
        b.declared |= 1u << binding;
        const auto type = type_of.find(variable);
        const auto block = type == type_of.end() ? pointee.end() : pointee.find(type->second);
        if (block == pointee.end()) continue;
        const auto count = members.find(block->second);
        const auto readonly = nonwritable_members.find(block->second);
        const std::size_t readonly_members = readonly == nonwritable_members.end() ? 0 : readonly->second.size();
        const bool writable = !nonwritable_variables.count(variable) && count != members.end() &&
                              readonly_members < count->second;
        if (writable) b.writable |= 1u << binding;
    }
    return b;
}

uint32_t push_constant_bytes(std::span<const uint32_t> words) {
    std::map<uint32_t, uint32_t> scalar_bytes, constant, pointee, array_stride;
    std::map<uint32_t, std::pair<uint32_t, uint32_t>> vector, array;  // id -> (element, count / length id)
    std::map<uint32_t, std::vector<uint32_t>> struct_members;
    std::map<std::pair<uint32_t, uint32_t>, uint32_t> member_offset;
    uint32_t block_pointer = 0;
    for_each_instruction(words, [&](uint32_t op, std::span<const uint32_t> o) {
        if ((op == kOpTypeInt || op == kOpTypeFloat) && o.size() >= 2) scalar_bytes[o[0]] = o[1] / 8;
        if (op == kOpTypeVector && o.size() >= 3) vector[o[0]] = {o[1], o[2]};
        if (op == kOpTypeArray && o.size() >= 3) array[o[0]] = {o[1], o[2]};
        if (op == kOpConstant && o.size() >= 3) constant[o[1]] = o[2];
        if (op == kOpTypeStruct && !o.empty()) struct_members[o[0]].assign(o.begin() + 1, o.end());
        if (op == kOpTypePointer && o.size() >= 3) pointee[o[0]] = o[2];
        if (op == kOpMemberDecorate && o.size() >= 4 && o[2] == kDecorationOffset) member_offset[{o[0], o[1]}] = o[3];
        if (op == kOpDecorate && o.size() >= 3 && o[1] == kDecorationArrayStride) array_stride[o[0]] = o[2];
        if (op == kOpVariable && o.size() >= 3 && o[2] == kStorageClassPushConstant) block_pointer = o[0];
    });
    if (!block_pointer) return 0;
    std::function<uint32_t(uint32_t)> size_of = [&](uint32_t type) -> uint32_t {
        if (auto s = scalar_bytes.find(type); s != scalar_bytes.end()) return s->second;
        if (auto v = vector.find(type); v != vector.end()) return v->second.second * size_of(v->second.first);
        if (auto a = array.find(type); a != array.end()) {
            const auto stride = array_stride.find(type);
            return constant[a->second.second] * (stride != array_stride.end() ? stride->second : size_of(a->second.first));
        }
        throw Error("SPIR-V push constant of a type vkhalf does not size (id " + std::to_string(type) + ")");
    };
    const uint32_t block = pointee[block_pointer];
    uint32_t end = 0;
    const auto& members = struct_members[block];
    for (uint32_t m = 0; m < members.size(); ++m)
        end = std::max(end, member_offset[{block, m}] + size_of(members[m]));
    return end;
}

} // namespace vkhalf::detail
