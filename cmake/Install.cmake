# cmake --install: the headers, libvkhalf.a and libvkhalf.so, a relocatable CMake package
# (find_package(vkhalf) -> vkhalf::vkhalf static, vkhalf::vkhalf_shared) and vkhalf.pc.
include(CMakePackageConfigHelpers)

set(VKHALF_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vkhalf)
set_target_properties(vkhalf_shared PROPERTIES EXPORT_NAME vkhalf_shared)

install(TARGETS vkhalf vkhalf_shared EXPORT vkhalfTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/vkhalf DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_BINARY_DIR}/include/vkhalf/build_config.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/vkhalf)
install(EXPORT vkhalfTargets NAMESPACE vkhalf:: DESTINATION ${VKHALF_CMAKE_DIR})

configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/vkhalfConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/cmake/vkhalfConfig.cmake INSTALL_DESTINATION ${VKHALF_CMAKE_DIR})
# 0.x: minor versions may break the interface, so only the same minor version is compatible.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/vkhalfConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/vkhalfConfig.cmake ${CMAKE_BINARY_DIR}/cmake/vkhalfConfigVersion.cmake
        DESTINATION ${VKHALF_CMAKE_DIR})

# pkg-config: paths relative to the .pc file, so the installed tree can move.
set(CMAKE_DL_LIBS_FLAG "")
foreach(lib IN LISTS CMAKE_DL_LIBS)
  string(APPEND CMAKE_DL_LIBS_FLAG " -l${lib}")
endforeach()
file(RELATIVE_PATH VKHALF_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
configure_file(${CMAKE_SOURCE_DIR}/cmake/vkhalf.pc.in ${CMAKE_BINARY_DIR}/cmake/vkhalf.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/cmake/vkhalf.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
