# Cross build for aarch64 Linux with Debian's cross toolchain (g++-aarch64-linux-gnu) against arm64
# multiarch packages (zlib1g-dev:arm64, libvulkan1:arm64, mesa-vulkan-drivers:arm64, ...):
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
# scripts/cross-aarch64.sh installs those, builds and runs the tests under qemu-aarch64.
#
# No CMAKE_FIND_ROOT_PATH: with multiarch the target's libraries live on the host itself, in
# /usr/lib/aarch64-linux-gnu, which CMake searches through CMAKE_LIBRARY_ARCHITECTURE; headers in
# /usr/include are architecture-independent. Programs found (glslangValidator, spirv-val, python3)
# are the host's, which is what the build runs.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# ctest runs the test executables through qemu's user-mode emulator. The arm64 dynamic loader and
# libraries come from the multiarch libc6:arm64 (/lib/ld-linux-aarch64.so.1), so no -L is needed.
find_program(VKHALF_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static
             DOC "qemu user-mode emulator that runs the aarch64 tests (Debian: qemu-user)")
if(VKHALF_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${VKHALF_QEMU_AARCH64})
endif()
