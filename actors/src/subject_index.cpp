// The subscription index of pubsub::broker (detail/subject_index.hpp has
// the trie's shape and why matching never visits a subscription twice).

#include <weft/actors/detail/subject_index.hpp>

#include <algorithm>

namespace weft::actors::detail {

subject_index::subject_index() : root_(std::make_unique<node>()) {}
subject_index::~subject_index() = default;

namespace {

// Calls fn(token, last) for each token of a valid subject or pattern.
template <class F>
void for_each_token(std::string_view s, F&& fn) {
  for (;;) {
    const auto dot = s.find('.');
    if (dot == std::string_view::npos) {
      fn(s, true);
      return;
    }
    fn(s.substr(0, dot), false);
    s.remove_prefix(dot + 1);
  }
}

template <class Entries>
void add_to(Entries& e, std::string_view queue_group, std::uint64_t id) {
  if (queue_group.empty()) {
    e.plain.push_back(id);
    return;
  }
  for (auto& g : e.groups) {
    if (g.name == queue_group) {
      g.members.push_back(id);
      return;
    }
  }
  e.groups.push_back({std::string(queue_group), {id}, 0});
}

template <class Entries>
bool remove_from(Entries& e, std::string_view queue_group, std::uint64_t id) {
  if (queue_group.empty()) {
    auto it = std::find(e.plain.begin(), e.plain.end(), id);
    if (it == e.plain.end()) return false;
    e.plain.erase(it);  // keeps subscription order, which the tests read
    return true;
  }
  for (auto g = e.groups.begin(); g != e.groups.end(); ++g) {
    if (g->name != queue_group) continue;
    auto it = std::find(g->members.begin(), g->members.end(), id);
    if (it == g->members.end()) return false;
    const auto pos = static_cast<std::size_t>(it - g->members.begin());
    g->members.erase(it);
    // Keep the cursor on the member that was next in turn.
    if (pos < g->next) --g->next;
    if (g->members.empty()) {
      e.groups.erase(g);
    } else if (g->next >= g->members.size()) {
      g->next = 0;
    }
    return true;
  }
  return false;
}

}  // namespace

void subject_index::insert(std::string_view pattern, std::string_view queue_group, id_type id) {
  node* at = root_.get();
  entries* target = nullptr;
  for_each_token(pattern, [&](std::string_view token, bool) {
    if (token == ">") {
      target = &at->rest;  // '>' is always the last token
      return;
    }
    std::unique_ptr<node>* child = nullptr;
    if (token == "*") {
      child = &at->star;
    } else {
      auto it = at->literal.find(token);
      if (it == at->literal.end()) it = at->literal.emplace(std::string(token), nullptr).first;
      child = &it->second;
    }
    if (!*child) {
      *child = std::make_unique<node>();
      ++nodes_;
    }
    at = child->get();
  });
  if (target == nullptr) target = &at->here;
  add_to(*target, queue_group, id);
  ++size_;
}

bool subject_index::erase(std::string_view pattern, std::string_view queue_group, id_type id) {
  // The path, to prune the nodes the erase leaves empty, deepest first.
  struct step {
    node* parent;
    std::string_view token;
  };
  std::vector<step> path;
  node* at = root_.get();
  entries* target = nullptr;
  bool found = true;
  for_each_token(pattern, [&](std::string_view token, bool) {
    if (!found) return;
    if (token == ">") {
      target = &at->rest;
      return;
    }
    node* next = nullptr;
    if (token == "*") {
      next = at->star.get();
    } else if (auto it = at->literal.find(token); it != at->literal.end()) {
      next = it->second.get();
    }
    if (next == nullptr) {
      found = false;
      return;
    }
    path.push_back({at, token});
    at = next;
  });
  if (!found) return false;
  if (target == nullptr) target = &at->here;
  if (!remove_from(*target, queue_group, id)) return false;
  --size_;
  for (auto s = path.rbegin(); s != path.rend(); ++s) {
    node* parent = s->parent;
    std::unique_ptr<node>* child = nullptr;
    std::unordered_map<std::string, std::unique_ptr<node>, string_hash, std::equal_to<>>::iterator lit;
    if (s->token == "*") {
      child = &parent->star;
    } else {
      lit = parent->literal.find(s->token);
      child = &lit->second;
    }
    if (!(*child)->empty()) break;
    if (s->token == "*") {
      parent->star.reset();
    } else {
      parent->literal.erase(lit);
    }
    --nodes_;
  }
  return true;
}

void subject_index::collect(entries& e, matches& out) {
  out.plain.insert(out.plain.end(), e.plain.begin(), e.plain.end());
  for (auto& g : e.groups)
    out.groups.push_back(&g);
}

void subject_index::walk(node& n, std::size_t token, matches& out) {
  if (token == tokens_.size()) {
    collect(n.here, out);
    return;
  }
  collect(n.rest, out);  // '>' takes the one or more tokens left
  if (auto it = n.literal.find(tokens_[token]); it != n.literal.end()) walk(*it->second, token + 1, out);
  if (n.star) walk(*n.star, token + 1, out);
}

void subject_index::match(std::string_view subject, matches& out) {
  out.clear();
  tokens_.clear();
  for_each_token(subject, [&](std::string_view token, bool) { tokens_.push_back(token); });
  walk(*root_, 0, out);
}

}  // namespace weft::actors::detail
