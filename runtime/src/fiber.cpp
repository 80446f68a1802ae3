// The only file in weft that touches Boost.Context (fcontext).
//
// Stacks: each fiber's stack is one mapping laid out, low to high, as
//   [guard page][usable stack ........................][struct fiber]
// The fiber control block sits at the very top of its own stack, so a
// fiber costs one mapping and no heap allocation. Stacks return to a pool
// and are reused; the pool keeps at most `max_cached` idle stacks.
//
// Guard pages: on kernels >= 6.13 MADV_GUARD_INSTALL marks the page
// without splitting the mapping (a VMA per stack); older kernels fall back
// to mprotect(PROT_NONE), which costs a second VMA per stack, so very
// large numbers of simultaneously blocked fibers may need
// vm.max_map_count raised (docs/architecture.md).
//
// Per switch we also carry along what is per-thread in the C++ runtime but
// must be per-fiber: the exception-handling globals (a fiber suspended in a
// catch block may resume on another thread), and the sanitizer fiber state.

#include "fiber.hpp"

#include <boost/context/detail/fcontext.hpp>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cxxabi.h>
#include <mutex>
#include <new>
#include <sys/mman.h>
#include <unistd.h>
#include <unordered_map>
#include <vector>

#if defined(WEFT_SANITIZE_ADDRESS)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(WEFT_SANITIZE_THREAD)
#include <sanitizer/tsan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace ctx = boost::context::detail;

namespace weft::detail {

namespace {

// The Itanium C++ ABI's per-thread exception globals; libstdc++ and
// libc++abi both start the struct with these two fields.
struct eh_globals {
  void* caught_exceptions;
  unsigned int uncaught_exceptions;
};

// __cxa_get_globals is declared __attribute__((const)), so the compiler
// may reuse its result across a context switch that moved us to another
// thread. Calling it through a non-inlinable barrier prevents that.
__attribute__((noinline)) eh_globals* thread_eh_globals() {
  asm volatile("" ::: "memory");
  return reinterpret_cast<eh_globals*>(abi::__cxa_get_globals());
}

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

class fiber {
 public:
  ctx::fcontext_t context = nullptr;
  eh_globals eh{};
  // Stack mapping (null for a thread's own stack).
  void* mapping = nullptr;
  std::size_t mapping_size = 0;
  std::size_t stack_size = 0;  // usable bytes
  stack_pool* pool = nullptr;
  void (*entry)(void*) = nullptr;
  void* entry_arg = nullptr;
  // For the overflow reporter.
  const void* owner = nullptr;
  overflow_describer describe = nullptr;
#if defined(WEFT_SANITIZE_ADDRESS)
  void* asan_fake_stack = nullptr;
  const void* asan_bottom = nullptr;
  std::size_t asan_size = 0;
#endif
#if defined(WEFT_SANITIZE_THREAD)
  void* tsan_fiber = nullptr;
#endif

  char* guard_low() const { return static_cast<char*>(mapping); }
  char* stack_low() const { return guard_low() + page_size(); }
};

class stack_pool {
 public:
  std::size_t default_size;
  std::size_t max_cached;
  bool guard_pages;
  std::mutex mutex;
  std::unordered_map<std::size_t, std::vector<fiber*>> free_by_size;  // guarded by mutex
  std::size_t cached = 0;                                              // guarded by mutex
  std::atomic<std::size_t> in_use{0};
};

namespace {

thread_local fiber* tls_current = nullptr;

__attribute__((noinline)) void set_current(fiber* f) noexcept {
  asm volatile("" ::: "memory");
  tls_current = f;
}

struct switch_record {
  fiber* from;
  switch_hook hook;
  void* arg;
};

// Runs on the destination right after a jump: records where the departed
// fiber stopped, then lets the hook publish it. The record lives on the
// departed fiber's stack, which stays intact until someone resumes it, and
// nobody can do that before the hook has run; so we read the record
// before calling the hook and never after.
void complete_switch(ctx::transfer_t t) {
  auto* record = static_cast<switch_record*>(t.data);
  fiber* from = record->from;
  switch_hook hook = record->hook;
  void* arg = record->arg;
  from->context = t.fctx;
  if (hook != nullptr) hook(from, arg);
}

void before_jump(fiber* self, fiber* to, bool final) {
  eh_globals* eh = thread_eh_globals();
  self->eh = *eh;
  *eh = to->eh;
#if defined(WEFT_SANITIZE_ADDRESS)
  __sanitizer_start_switch_fiber(final ? nullptr : &self->asan_fake_stack, to->asan_bottom, to->asan_size);
#else
  (void)final;
#endif
#if defined(WEFT_SANITIZE_THREAD)
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
}

void after_jump(fiber* self, fiber* departed) {
#if defined(WEFT_SANITIZE_ADDRESS)
  const void* bottom = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(self->asan_fake_stack, &bottom, &size);
  // A thread's own stack learns its bounds the first time it is left.
  if (departed != nullptr && departed->mapping == nullptr) {
    departed->asan_bottom = bottom;
    departed->asan_size = size;
  }
#else
  (void)departed;
#endif
  set_current(self);
}

void trampoline(ctx::transfer_t t) {
  auto* record = static_cast<switch_record*>(t.data);
  fiber* self = tls_current;  // set by the switcher to the destination
  after_jump(self, record->from);
  complete_switch(t);
  self->entry(self->entry_arg);
  std::fputs("weft: internal error: a fiber's entry function returned\n", stderr);
  std::abort();
}

fiber* map_stack(stack_pool* pool, std::size_t stack_size) {
  const std::size_t page = page_size();
  stack_size = (stack_size + page - 1) / page * page;
  const std::size_t control = (sizeof(fiber) + 63) / 64 * 64;
  const std::size_t total = page + stack_size + page;  // guard + stack + control block page
  void* mem = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                     -1, 0);
  if (mem == MAP_FAILED) throw std::bad_alloc();
  if (pool->guard_pages) {
    if (::madvise(mem, page, MADV_GUARD_INSTALL) != 0 && ::mprotect(mem, page, PROT_NONE) != 0) {
      ::munmap(mem, total);
      throw std::bad_alloc();
    }
  }
  // The control block goes at the top, the stack grows down from below it.
  char* top = static_cast<char*>(mem) + total;
  auto* f = new (top - control) fiber();
  f->mapping = mem;
  f->mapping_size = total;
  f->stack_size = stack_size + page - control;
  f->pool = pool;
  return f;
}

void unmap_stack(fiber* f) {
  void* mem = f->mapping;
  std::size_t size = f->mapping_size;
  f->~fiber();
  ::munmap(mem, size);
}

}  // namespace

stack_pool* stack_pool_create(std::size_t default_size, std::size_t max_cached, bool guard_pages) {
  auto* pool = new stack_pool();
  pool->default_size = default_size;
  pool->max_cached = max_cached;
  pool->guard_pages = guard_pages;
  return pool;
}

void stack_pool_destroy(stack_pool* pool) {
  for (auto& [size, list] : pool->free_by_size) {
    for (fiber* f : list) unmap_stack(f);
  }
  delete pool;
}

std::size_t stack_pool_default_size(const stack_pool* pool) { return pool->default_size; }

std::size_t stack_pool_fibers_in_use(const stack_pool* pool) { return pool->in_use.load(std::memory_order_relaxed); }

fiber* thread_fiber_adopt() {
  auto* f = new fiber();
#if defined(WEFT_SANITIZE_THREAD)
  f->tsan_fiber = __tsan_get_current_fiber();
#endif
  set_current(f);
  return f;
}

void thread_fiber_release(fiber* f) {
  set_current(nullptr);
  delete f;
}

fiber* fiber_create(stack_pool* pool, std::size_t stack_size, void (*entry)(void*), void* arg) {
  if (stack_size == 0) stack_size = pool->default_size;
  fiber* f = nullptr;
  {
    std::lock_guard lock(pool->mutex);
    auto it = pool->free_by_size.find(stack_size);
    if (it != pool->free_by_size.end() && !it->second.empty()) {
      f = it->second.back();
      it->second.pop_back();
      --pool->cached;
    }
  }
  if (f == nullptr) {
    f = map_stack(pool, stack_size);
    f->stack_size = stack_size;  // the key it returns to the pool under
  }
  pool->in_use.fetch_add(1, std::memory_order_relaxed);
  f->entry = entry;
  f->entry_arg = arg;
  f->owner = nullptr;
  f->describe = nullptr;
  f->eh = {};
  // make_fcontext wants the top of the usable stack: just below the control block.
  char* top = reinterpret_cast<char*>(f);
  const std::size_t usable = static_cast<std::size_t>(top - f->stack_low());
  f->context = ctx::make_fcontext(top, usable, &trampoline);
#if defined(WEFT_SANITIZE_ADDRESS)
  f->asan_bottom = f->stack_low();
  f->asan_size = usable;
  f->asan_fake_stack = nullptr;
  // A pooled stack still carries the shadow of its last user's frames: the
  // ones that never returned (a fiber leaves for the last time from deep
  // inside switch_to) keep their redzones poisoned, and a new frame at the
  // same address would be reported as a stack-buffer-overflow. Start clean.
  __asan_unpoison_memory_region(f->stack_low(), usable);
#endif
#if defined(WEFT_SANITIZE_THREAD)
  f->tsan_fiber = __tsan_create_fiber(0);
#endif
  return f;
}

void fiber_destroy(fiber* f) {
#if defined(WEFT_SANITIZE_THREAD)
  __tsan_destroy_fiber(f->tsan_fiber);
  f->tsan_fiber = nullptr;
#endif
  stack_pool* pool = f->pool;
  pool->in_use.fetch_sub(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(pool->mutex);
    if (pool->cached < pool->max_cached) {
      pool->free_by_size[f->stack_size].push_back(f);
      ++pool->cached;
      return;
    }
  }
  unmap_stack(f);
}

std::size_t fiber_stack_size(const fiber* f) { return f->stack_size; }

std::size_t fiber_suspended_depth(const fiber* f) {
  // The control block sits at the top of the mapping and the stack grows
  // down from it; fcontext_t is the saved stack pointer.
  if (f->mapping == nullptr || f->context == nullptr) return 0;
  const char* top = reinterpret_cast<const char*>(f);
  const char* sp = static_cast<const char*>(f->context);
  return sp < top ? static_cast<std::size_t>(top - sp) : 0;
}

fiber* current_fiber() noexcept {
  asm volatile("" ::: "memory");
  return tls_current;
}

void switch_to(fiber* self, fiber* to, switch_hook hook, void* arg) {
  switch_record record{self, hook, arg};
  before_jump(self, to, false);
  set_current(to);
  ctx::transfer_t t = ctx::jump_fcontext(to->context, &record);
  after_jump(self, static_cast<switch_record*>(t.data)->from);
  complete_switch(t);
}

// -- stack overflow reporting ----------------------------------------------

void fiber_set_owner(fiber* f, const void* owner, overflow_describer describe) noexcept {
  f->owner = owner;
  f->describe = describe;
}

namespace {

struct sigaction previous_segv_action;
struct sigaction previous_bus_action;
std::once_flag handler_once;
thread_local void* tls_altstack = nullptr;
constexpr std::size_t altstack_size = 64 * 1024;

void write_all(const char* text, std::size_t len) {
  while (len > 0) {
    ssize_t n = ::write(STDERR_FILENO, text, len);
    if (n <= 0) return;
    text += n;
    len -= static_cast<std::size_t>(n);
  }
}

std::size_t append(char* buf, std::size_t pos, std::size_t cap, const char* text) {
  while (*text != '\0' && pos < cap) buf[pos++] = *text++;
  return pos;
}

std::size_t append_number(char* buf, std::size_t pos, std::size_t cap, std::size_t value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n > 0 && pos < cap) buf[pos++] = digits[--n];
  return pos;
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  fiber* f = tls_current;
  auto* addr = static_cast<char*>(info->si_addr);
  if (f != nullptr && f->mapping != nullptr) {
    char* guard = f->guard_low();
    // A frame larger than the guard page can jump past it, so accept a hit
    // up to 256 KiB below the stack as well.
    if (addr >= guard - 256 * 1024 && addr < guard + page_size()) {
      char buf[512];
      std::size_t pos = append(buf, 0, sizeof buf, "weft: stack overflow in actor ");
      if (f->describe != nullptr && f->owner != nullptr) {
        pos += f->describe(f->owner, buf + pos, sizeof buf - pos);
      } else {
        pos = append(buf, pos, sizeof buf, "(scheduler fiber)");
      }
      pos = append(buf, pos, sizeof buf, ": its fiber stack of ");
      pos = append_number(buf, pos, sizeof buf, f->stack_size);
      pos = append(buf, pos, sizeof buf, " bytes is exhausted; spawn it with a larger spawn_options::stack_size\n");
      write_all(buf, pos);
      std::signal(SIGABRT, SIG_DFL);
      std::abort();
    }
  }
  // Not ours: hand over to whoever was installed before, or die the default way.
  const struct sigaction& prev = sig == SIGSEGV ? previous_segv_action : previous_bus_action;
  if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction != nullptr) {
    prev.sa_sigaction(sig, info, uctx);
    return;
  }
  if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler != nullptr) {
    prev.sa_handler(sig);
    return;
  }
  std::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

void install_overflow_reporter_for_this_thread() {
  std::call_once(handler_once, [] {
    struct sigaction action {};
    action.sa_sigaction = &on_fault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGSEGV, &action, &previous_segv_action);
    ::sigaction(SIGBUS, &action, &previous_bus_action);
  });
  if (tls_altstack != nullptr) return;
  // Keep a sanitizer's or the application's alternate stack if one exists.
  stack_t current{};
  if (::sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) == 0) return;
  tls_altstack = std::malloc(altstack_size);
  stack_t stack{};
  stack.ss_sp = tls_altstack;
  stack.ss_size = altstack_size;
  ::sigaltstack(&stack, nullptr);
}

void uninstall_overflow_reporter_for_this_thread() {
  if (tls_altstack == nullptr) return;
  stack_t disable{};
  disable.ss_flags = SS_DISABLE;
  ::sigaltstack(&disable, nullptr);
  std::free(tls_altstack);
  tls_altstack = nullptr;
}

}  // namespace weft::detail
