# VKHALF_SANITIZE: every target (library, volk, tests, samples) is compiled and linked with
# AddressSanitizer + UndefinedBehaviorSanitizer. UB is not recoverable, so the first report ends
# the process with a failure and the test fails. The Vulkan driver and layers are dlopen'ed by volk
# and stay uninstrumented; tests/sanitizers/ holds the run-time options that ctest passes.
#
# VKHALF_FUZZ: adds libFuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link) to all code,
# so the fuzz targets of tests/fuzz see the library's branches; only the fuzz targets themselves
# link libFuzzer's main (-fsanitize=fuzzer). Needs Clang and its runtime (Debian: clang,
# libclang-rt-14-dev).
include(CheckCXXSourceCompiles)

if(VKHALF_SANITIZE)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    message(FATAL_ERROR "VKHALF_SANITIZE needs GCC or Clang, not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  set(VKHALF_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_compile_options(${VKHALF_SANITIZER_FLAGS})
  add_link_options(${VKHALF_SANITIZER_FLAGS})
  if(CMAKE_C_COMPILER_ID STREQUAL "Clang")
    # A C program (the C API's tests) linking the C++ library needs UBSan's C++ handlers (vptr,
    # function type), which clang links for C++ programs only unless told, and the C++ ABI they use.
    add_link_options("$<$<LINK_LANGUAGE:C>:-fsanitize-link-c++-runtime;-lstdc++>")
  endif()
endif()

if(VKHALF_FUZZ)
  if(NOT VKHALF_SANITIZE)
    message(FATAL_ERROR "VKHALF_FUZZ needs VKHALF_SANITIZE=ON: a fuzzer without ASan misses most memory errors")
  endif()
  set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer")
  check_cxx_source_compiles([[
    #include <cstddef>
    #include <cstdint>
    extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, std::size_t) { return 0; }]] VKHALF_HAVE_LIBFUZZER)
  unset(CMAKE_REQUIRED_FLAGS)
  if(NOT VKHALF_HAVE_LIBFUZZER)
    message(FATAL_ERROR "VKHALF_FUZZ: ${CMAKE_CXX_COMPILER} cannot link -fsanitize=fuzzer "
                        "(configure with CC=clang CXX=clang++; Debian: apt-get install clang libclang-rt-14-dev)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
