# Sanitizer builds, selected with -DWEFT_SANITIZE=address|thread.
# 'address' is ASan + UBSan (+ LSan, which ASan includes on Linux).
# The runtime tells both sanitizers about fiber switches (runtime/src/fiber.cpp).
if(WEFT_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(WEFT_SANITIZE_ADDRESS=1)
elseif(WEFT_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  add_compile_definitions(WEFT_SANITIZE_THREAD=1)
elseif(NOT WEFT_SANITIZE STREQUAL "")
  message(FATAL_ERROR "WEFT_SANITIZE must be '', 'address' or 'thread', not '${WEFT_SANITIZE}'")
endif()
