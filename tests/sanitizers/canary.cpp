// Proof that the sanitizer build's run-time options catch what they are meant to: each mode makes
// one deliberate error, and its ctest passes only when the sanitizer's report appears. A canary that
// stays silent means the options (or the suppressions) hide real errors.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace {

int leak() {
    void* volatile lost = std::malloc(77);
    lost = nullptr;
    return lost == nullptr ? 0 : 1;
}

int heap_overflow() {
    // volatile stores: a store right before free() is otherwise dead, and GCC drops it.
    volatile char* bytes = static_cast<char*>(std::malloc(8));
    const volatile std::size_t past_end = 8;
    bytes[past_end] = 1;
    std::free(const_cast<char*>(bytes));
    return 0;
}

int signed_overflow() {
    volatile int big = std::numeric_limits<int>::max();
    const int wrapped = big + 1;
    return wrapped == 0 ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
    const char* mode = argc > 1 ? argv[1] : "";
    if (std::strcmp(mode, "leak") == 0) return leak();
    if (std::strcmp(mode, "heap-overflow") == 0) return heap_overflow();
    if (std::strcmp(mode, "signed-overflow") == 0) return signed_overflow();
    std::fprintf(stderr, "usage: %s leak|heap-overflow|signed-overflow\n", argv[0]);
    return 2;
}
