#pragma once
// Fibers: stackful coroutines that carry actors (private to runtime/).
//
// This header is the only interface to the machine-level context switch;
// fiber.cpp is the only file in weft that includes Boost.Context. It owns
// stack allocation (pooled, with a guard page), sanitizer annotations, the
// per-fiber copy of the C++ exception globals, and the stack-overflow
// reporter.
//
// A switch is asymmetric in one way: the fiber we leave does not know its
// own saved context until it has left, so `switch_to` takes a hook that
// runs on the *destination* right after the jump, with the departed fiber
// already saved. The scheduler uses the hook to publish "this actor is now
// suspended" only when it is safe for another worker to resume it.

#include <cstddef>

namespace weft::detail {

class fiber;
class stack_pool;

// A hook run on the destination fiber right after a switch.
using switch_hook = void (*)(fiber* departed, void* arg);

// -- any thread ----------------------------------------------------------

// A pool of stacks for one runtime. Stacks are reused, never unmapped per
// spawn; `max_cached` bounds how many idle stacks are kept.
stack_pool* stack_pool_create(std::size_t default_size, std::size_t max_cached, bool guard_pages);
void stack_pool_destroy(stack_pool*);
std::size_t stack_pool_default_size(const stack_pool*);
// Fibers created from this pool and not yet destroyed.
std::size_t stack_pool_fibers_in_use(const stack_pool*);

// -- the calling thread only ---------------------------------------------

// The fiber that represents the calling thread's own stack. Call once per
// thread before the first switch; release with thread_fiber_release.
fiber* thread_fiber_adopt();
void thread_fiber_release(fiber*);

// A fresh fiber that runs entry(arg) the first time it is switched to.
// `entry` must never return: it ends by switching away for good, with a
// hook that calls fiber_destroy on it.
fiber* fiber_create(stack_pool* pool, std::size_t stack_size, void (*entry)(void*), void* arg);
void fiber_destroy(fiber*);
std::size_t fiber_stack_size(const fiber*);
// Bytes of stack a suspended fiber holds: from the top of its stack down to
// its saved stack pointer. Only meaningful for a fiber that is not running
// (call it from a switch hook, where the fiber has just been saved).
std::size_t fiber_suspended_depth(const fiber*);

// Saves the current fiber `self` and continues `to`; runs hook(self, arg)
// on `to` first. Returns when someone switches back to `self`.
void switch_to(fiber* self, fiber* to, switch_hook hook, void* arg);

// The fiber running on this thread right now (nullptr outside fibers).
fiber* current_fiber() noexcept;

// -- stack overflow reporting --------------------------------------------

// Installs (once per process) a SIGSEGV handler on an alternate signal
// stack (per thread, call from each worker) that recognises a hit on a
// fiber's guard page and prints who overflowed before aborting.
void install_overflow_reporter_for_this_thread();
void uninstall_overflow_reporter_for_this_thread();

// What the reporter prints about the fiber's current owner. Must be
// async-signal-safe: write into buf, return the length.
using overflow_describer = std::size_t (*)(const void* owner, char* buf, std::size_t len);
void fiber_set_owner(fiber*, const void* owner, overflow_describer describe) noexcept;

}  // namespace weft::detail
