#pragma once
// Everything a program using weft's runtime needs.
#include <weft/runtime/behavior.hpp>
#include <weft/runtime/context.hpp>
#include <weft/runtime/event_log.hpp>
#include <weft/runtime/exit_reason.hpp>
#include <weft/runtime/messages.hpp>
#include <weft/runtime/options.hpp>
#include <weft/runtime/pid.hpp>
#include <weft/runtime/runtime.hpp>
