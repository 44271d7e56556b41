# vkhalf_compile_shaders(<out-var> SHADERS "name:variant,variant" ...)
# Compiles shaders/<name>.comp once per variant with -DVKH_<VARIANT>, validates each module with
# spirv-val when available, and embeds all modules in one generated C++ file whose path is
# returned in <out-var>. Variant "coopmat" modules target Vulkan 1.2 (SPIR-V 1.5: the Vulkan
# memory model is core there); the rest target Vulkan 1.1 (SPIR-V 1.3) so they run on every
# Vulkan 1.1 device. Not Vulkan 1.3: SPIR-V 1.6 gives a specialised workgroup size as
# LocalSizeId, which needs the maintenance4 feature that some cooperative-matrix drivers lack.
function(vkhalf_compile_shaders out_var)
  cmake_parse_arguments(ARG "" "" "SHADERS" ${ARGN})
  set(src_dir ${CMAKE_SOURCE_DIR}/shaders)
  set(spv_dir ${CMAKE_BINARY_DIR}/shaders)
  file(MAKE_DIRECTORY ${spv_dir})
  file(GLOB includes ${src_dir}/*.glsl)
  set(all_spv)
  foreach(entry IN LISTS ARG_SHADERS)
    string(REPLACE ":" ";" parts "${entry}")
    list(GET parts 0 name)
    list(GET parts 1 variants)
    string(REPLACE "," ";" variants "${variants}")
    foreach(variant IN LISTS variants)
      string(TOUPPER ${variant} upper)
      set(env vulkan1.1)
      if(variant STREQUAL "coopmat")
        set(env vulkan1.2)
      endif()
      set(spv ${spv_dir}/${name}.${variant}.spv)
      set(validate_cmd)
      if(VKHALF_SPIRV_VAL)
        set(validate_cmd COMMAND ${VKHALF_SPIRV_VAL} --target-env ${env} ${spv})
      endif()
      add_custom_command(OUTPUT ${spv}
        COMMAND ${VKHALF_GLSLANG} -V --quiet --target-env ${env} -DVKH_${upper}=1 -I${src_dir}
                ${src_dir}/${name}.comp -o ${spv}
        ${validate_cmd}
        DEPENDS ${src_dir}/${name}.comp ${includes}
        COMMENT "SPIR-V ${name}.${variant}"
        VERBATIM)
      list(APPEND all_spv ${spv})
    endforeach()
  endforeach()
  set(out_cpp ${CMAKE_BINARY_DIR}/generated/spirv_modules.cpp)
  add_custom_command(OUTPUT ${out_cpp}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out_cpp} "-DINPUTS=${all_spv}" -P ${CMAKE_SOURCE_DIR}/cmake/EmbedSpirv.cmake
    DEPENDS ${all_spv} ${CMAKE_SOURCE_DIR}/cmake/EmbedSpirv.cmake
    COMMENT "Embedding SPIR-V modules"
    VERBATIM)
  set(${out_var} ${out_cpp} PARENT_SCOPE)
endfunction()
