# Installs the built sds into a scratch prefix, then configures, builds and
# runs tests/install/consumer against it with find_package(sds).
foreach(v BUILD_DIR SOURCE_DIR WORK_DIR VERSION GENERATOR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "${v} not set")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message("${out}")
endfunction()

run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
foreach(f include/sds/sigv4.hpp include/sds/sharedkey.hpp include/sds/version.hpp include/sds/datastore.hpp
          include/sds/error.hpp bin/sds lib/cmake/sds/sdsConfig.cmake)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
foreach(internal include/sds_crypto.hpp include/engine.hpp include/http include/transport)
  if(EXISTS "${prefix}/${internal}")
    message(FATAL_ERROR "an internal header was installed: ${internal}")
  endif()
endforeach()
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/install/consumer" -B "${WORK_DIR}/build" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${prefix}")
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/consumer" "${VERSION}")
