# Vulkan headers and volk, at compile time only: the loader (libvulkan.so.1 on Linux, libvulkan.so
# on Android) is opened at run time by volk, so nothing links libvulkan and a cross build needs no
# loader for its target.
#
# Both are taken from the build host (NO_CMAKE_FIND_ROOT_PATH), never from a cross toolchain's
# sysroot: volk.c must match the headers it was generated against (Debian ships both as 1.3.239),
# and the Android NDK's sysroot carries its own, often older, vulkan headers and no volk.
# Copies (timestamps kept, so nothing rebuilds) are made in the build tree and included from there, because their host directory is
# usually /usr/include, which also holds the host's C library headers: on the include path of an
# NDK build those would shadow bionic's.
#
#   -DVKHALF_VULKAN_INCLUDE_DIR=dir   a directory holding vulkan/vulkan_core.h (a Vulkan SDK, Vulkan-Headers)
#   -DVOLK_SOURCE_DIR=dir             a directory holding volk.c and volk.h (a volk checkout)
find_path(VKHALF_VULKAN_INCLUDE_DIR vulkan/vulkan_core.h
          HINTS ENV VULKAN_SDK PATH_SUFFIXES include NO_CMAKE_FIND_ROOT_PATH REQUIRED
          DOC "Directory holding vulkan/vulkan_core.h on the build host (Debian: libvulkan-dev)")
find_path(VOLK_SOURCE_DIR volk.c PATHS /usr/include /usr/local/include NO_CMAKE_FIND_ROOT_PATH REQUIRED
          DOC "Directory holding volk.c and volk.h on the build host (Debian: libvulkan-volk-dev)")

set(VKHALF_VULKAN_HEADERS ${CMAKE_BINARY_DIR}/vulkan-headers)
foreach(dir vulkan vk_video)
  if(IS_DIRECTORY ${VKHALF_VULKAN_INCLUDE_DIR}/${dir})
    file(COPY ${VKHALF_VULKAN_INCLUDE_DIR}/${dir} DESTINATION ${VKHALF_VULKAN_HEADERS}
         FILES_MATCHING PATTERN "*.h")   # the C headers; vulkan.hpp and friends are not used
  endif()
endforeach()
file(COPY ${VOLK_SOURCE_DIR}/volk.c ${VOLK_SOURCE_DIR}/volk.h DESTINATION ${VKHALF_VULKAN_HEADERS})

file(STRINGS ${VKHALF_VULKAN_HEADERS}/vulkan/vulkan_core.h _vkhalf_header_line
     REGEX "^#define VK_HEADER_VERSION [0-9]+")
string(REGEX MATCH "[0-9]+$" VKHALF_VULKAN_HEADER_VERSION "${_vkhalf_header_line}")
file(STRINGS ${VKHALF_VULKAN_HEADERS}/volk.h _vkhalf_volk_line REGEX "^#define VOLK_HEADER_VERSION [0-9]+")
string(REGEX MATCH "[0-9]+$" VKHALF_VOLK_VERSION "${_vkhalf_volk_line}")
message(STATUS "vkhalf: Vulkan headers ${VKHALF_VULKAN_HEADER_VERSION} from ${VKHALF_VULKAN_INCLUDE_DIR}, "
               "volk ${VKHALF_VOLK_VERSION} from ${VOLK_SOURCE_DIR}")
if(VKHALF_VOLK_VERSION GREATER VKHALF_VULKAN_HEADER_VERSION)
  message(WARNING "vkhalf: volk ${VKHALF_VOLK_VERSION} is newer than the Vulkan headers "
                  "(${VKHALF_VULKAN_HEADER_VERSION}); it may name functions those headers lack")
endif()
