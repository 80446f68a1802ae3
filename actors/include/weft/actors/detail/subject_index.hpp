#pragma once
// The subscription index of pubsub::broker: which subscriptions match a
// subject, without looking at the ones that cannot.
//
// A token trie, NATS's "sublist" shape: each pattern is a path of tokens
// from the root; a literal token is a hashed child, '*' is the one
// wildcard child of a node, and '>' ends a path in the node's `rest`
// slot. A pattern's subscriptions sit at the end of its path. Matching
// walks the subject's tokens from the root, following at each node the
// literal child for the token and the '*' child, and collecting on the
// way the `rest` entries of every node with at least one token still to
// come. A pattern has one path, so a subscription is found at most once
// per match, and a match costs O(paths followed), independent of how
// many subscriptions wait on other paths.
//
// At the end of a path the subscriptions are split: plain ones (each gets
// every message), and queue groups (one member of each group gets each
// message; the broker picks, the group keeps its round-robin cursor).
// Erasing the last subscription of a path removes the path's now-empty
// nodes, so churn does not grow the trie.
//
// Owner: one thread at a time (the broker actor). Pure data: tested alone
// in tests/actors/pubsub_test.cpp.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace weft::actors::detail {

class subject_index {
 public:
  using id_type = std::uint64_t;

  struct queue_group {
    std::string name;
    std::vector<id_type> members;  // in subscription order
    std::size_t next = 0;          // round-robin cursor into members
  };

  // What a subject matched. The group pointers stay valid until the next
  // insert or erase.
  struct matches {
    std::vector<id_type> plain;
    std::vector<queue_group*> groups;
    void clear() noexcept {
      plain.clear();
      groups.clear();
    }
    std::size_t size() const noexcept { return plain.size() + groups.size(); }
  };

  subject_index();
  ~subject_index();
  subject_index(const subject_index&) = delete;
  subject_index& operator=(const subject_index&) = delete;

  // `pattern` must satisfy valid_pattern (the broker checks it first); an
  // empty queue_group means a plain subscription.
  void insert(std::string_view pattern, std::string_view queue_group, id_type id);
  // False if (pattern, queue_group, id) was not there.
  bool erase(std::string_view pattern, std::string_view queue_group, id_type id);

  // Replaces `out` with the subscriptions `subject` (a valid_subject)
  // matches.
  void match(std::string_view subject, matches& out);

  std::size_t size() const noexcept { return size_; }
  // Nodes in the trie, the root included: 1 when empty.
  std::size_t node_count() const noexcept { return nodes_; }

 private:
  struct node;
  struct entries {
    std::vector<id_type> plain;
    std::vector<queue_group> groups;
    bool empty() const noexcept { return plain.empty() && groups.empty(); }
  };
  struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct node {
    std::unordered_map<std::string, std::unique_ptr<node>, string_hash, std::equal_to<>> literal;
    std::unique_ptr<node> star;
    entries here;  // patterns that end at this node
    entries rest;  // patterns whose next, last token is '>'
    bool empty() const noexcept { return literal.empty() && !star && here.empty() && rest.empty(); }
  };

  void walk(node& n, std::size_t token, matches& out);
  static void collect(entries& e, matches& out);

  std::unique_ptr<node> root_;
  std::size_t size_ = 0;
  std::size_t nodes_ = 1;
  std::vector<std::string_view> tokens_;  // the subject being matched, split
};

}  // namespace weft::actors::detail
