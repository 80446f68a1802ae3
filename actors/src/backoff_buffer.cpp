// The non-template part of the backoff buffer (backoff_buffer.hpp): the
// body wrapper through which a child announces that it has started.

#include <weft/actors/backoff_buffer.hpp>

#include <weft/actors/consistent_hash.hpp>

namespace weft::actors::detail {

namespace {

class announcing_body final : public weft::detail::actor_body {
 public:
  announcing_body(std::unique_ptr<weft::detail::actor_body> inner, pid watcher, std::uint64_t incarnation)
      : inner_(std::move(inner)), watcher_(std::move(watcher)), incarnation_(incarnation) {}

  // The child's own initialization runs first; only once it has returned a
  // behavior is the child started. An exception from it (or an empty
  // behavior: the child stops at once) announces nothing.
  behavior init(context& self) override {
    behavior b = inner_->init(self);
    if (b) announce(self);
    return b;
  }
  bool handler_style() const noexcept override { return inner_->handler_style(); }
  void run(context& self) override {
    announce(self);
    inner_->run(self);
  }
  void on_exit(context& self, const exit_reason& reason) noexcept override { inner_->on_exit(self, reason); }
  const weft::detail::protocol_info* protocol() const noexcept override { return inner_->protocol(); }

 private:
  void announce(context& self) { self.send(watcher_, child_started{incarnation_}); }

  std::unique_ptr<weft::detail::actor_body> inner_;
  pid watcher_;
  std::uint64_t incarnation_;
};

}  // namespace

std::unique_ptr<weft::detail::actor_body> announce_start(std::unique_ptr<weft::detail::actor_body> inner,
                                                         pid watcher, std::uint64_t incarnation) {
  return std::make_unique<announcing_body>(std::move(inner), std::move(watcher), incarnation);
}

double unit_random(std::uint64_t& state) noexcept {
  // The top 53 bits of a splitmix64 step: uniform doubles in [0, 1).
  return static_cast<double>(hash_key(state++) >> 11) * 0x1.0p-53;
}

}  // namespace weft::actors::detail
