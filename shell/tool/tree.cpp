// `tree` as text or Graphviz DOT. An answer may hold a tree of any depth
// (a chain of 20,000 actors each spawned by the previous one is a real
// program's tree, and a hostile endpoint can send deeper), so:
//
//   1. the walk is iterative: an explicit stack of (children, next index)
//      frames, never the call stack, however deep the answer;
//   2. at most max_depth levels below each root are printed; a node cut
//      there gets one marker line saying how many levels and actors are
//      below it (counted by a second iterative walk over the cut subtree,
//      which reads only `children`);
//   3. a text line's prefix ("│  │     ├─ ") is one string that grows and
//      shrinks with the stack, so memory is linear in the depth printed
//      and the output is written as it is made, never held per level.
//
// Every field a printed node needs is checked (answer.hpp), all of them
// before the first line is written; a node below the cut needs only its
// children, and only those are checked.

#include "cli.hpp"
#include "escape.hpp"

#include <fmt/format.h>

#include <vector>

namespace weft_shell {

namespace {

struct tree_node {
  std::string pid, name, label, status;
  std::uint64_t mailbox_length;
  std::optional<std::uint64_t> mailbox_capacity;
  std::uint64_t restarts;
  std::optional<std::uint64_t> children_omitted;  // cut by the endpoint's --depth
  field children;
};

tree_node read_node(const field& node) {
  // One at a time, in the order they are printed: the first missing
  // field is the one named.
  std::string pid = node.text("pid");
  std::string name = node.text("name");
  std::string label = node.text("label");
  std::string status = node.text("status");
  const field mailbox = node.object("mailbox");
  const std::uint64_t length = mailbox.count("length");
  const std::optional<std::uint64_t> capacity = mailbox.count_or_null("capacity");
  const std::uint64_t restarts = node.count("restarts");
  const std::optional<std::uint64_t> omitted = node.count_if_present("children_omitted");
  return tree_node{std::move(pid), std::move(name), std::move(label), std::move(status),     length,
                   capacity,       restarts,        omitted,          node.array("children")};
}

// "<0.5.0> lobby (chat rooms)", as sent: escape it for where it goes.
std::string title(const tree_node& n) {
  std::string t = n.pid;
  if (!n.name.empty()) t += " " + n.name;
  if (!n.label.empty() && n.label != n.name) t += " (" + n.label + ")";
  return t;
}

struct below_cut {
  std::uint64_t levels = 0;
  std::uint64_t actors = 0;
};

// How far the tree goes on below a node cut at max_depth: levels and
// actors, by an iterative walk over `children` alone.
below_cut measure_below(const field& cut, const json& children) {
  struct frame {
    const json* children;
    std::size_t next;
  };
  below_cut below;
  std::vector<frame> stack{{&children, 0}};
  while (!stack.empty()) {
    frame& top = stack.back();
    if (top.next == top.children->size()) {
      stack.pop_back();
      continue;
    }
    const json& node = (*top.children)[top.next++];
    ++below.actors;
    below.levels = std::max<std::uint64_t>(below.levels, stack.size());
    auto bad = [&](const std::string& problem) {
      cut.fail(fmt::format("has, {} level(s) below it, a node {}", grouped(stack.size()), problem));
    };
    if (!node.is_object()) bad("that is " + describe(node) + ", expected an object");
    const auto found = node.find("children");
    if (found == node.end()) bad("without children");
    if (!found->is_array()) bad("whose children are " + describe(*found) + ", expected an array");
    const json* grandchildren = &*found;
    if (!grandchildren->empty()) stack.push_back({grandchildren, 0});
  }
  return below;
}

std::string marker_text(const below_cut& below, std::uint64_t max_depth) {
  return fmt::format("… {} more level{} below, {} actor{} (--max-depth {})", grouped(below.levels),
                     below.levels == 1 ? "" : "s", grouped(below.actors), below.actors == 1 ? "" : "s", max_depth);
}

// The walk both formats share: visitor.node(n, depth, last) for each
// printed node in depth-first order, then visitor.cut(n, depth, below)
// if its children are below max_depth.
template <class Visitor>
void walk(const field& roots, std::uint64_t max_depth, Visitor& visitor) {
  struct frame {
    field children;
    std::size_t next;
  };
  std::vector<frame> stack;
  auto visit = [&](const field& node_field, bool last) {
    const std::uint64_t depth = stack.size();
    tree_node n = read_node(node_field);
    visitor.node(n, depth, last);
    if (n.children.size() == 0) return;
    if (depth >= max_depth) {
      visitor.cut(n, depth, measure_below(node_field, n.children.value()));
    } else {
      stack.push_back({n.children, 0});
    }
  };
  const std::size_t root_count = roots.size();
  for (std::size_t r = 0; r < root_count; ++r) {
    visit(roots.element(r), r + 1 == root_count);
    while (!stack.empty()) {
      frame& top = stack.back();
      const std::size_t count = top.children.size();
      if (top.next == count) {
        stack.pop_back();
        continue;
      }
      const std::size_t i = top.next++;
      visit(top.children.element(i), i + 1 == count);  // may grow the stack: `top` is not used after
    }
  }
}

// Prints nothing: walk() itself reads and checks each node.
struct checked_tree {
  void node(const tree_node&, std::uint64_t, bool) {}
  void cut(const tree_node&, std::uint64_t, const below_cut&) {}
};

class text_tree {
 public:
  text_tree(std::ostream& out, bool colour, std::uint64_t max_depth)
      : out_(out), colour_(colour), max_depth_(max_depth) {}

  void node(const tree_node& n, std::uint64_t depth, bool last) {
    // ends_[d]: the prefix's length under the node last printed at depth d.
    if (depth == 0) {
      prefix_.clear();
      ends_.assign(1, 0);
    } else {
      prefix_.resize(ends_[depth - 1]);
    }
    std::string line = prefix_;
    if (depth > 0) line += last ? "└─ " : "├─ ";
    line += paint(colour_, "\x1b[1m", printable(title(n))) + "  " +
            paint(colour_, status_colour(n.status), printable(n.status)) + "  mailbox " +
            mailbox_text(n.mailbox_length, n.mailbox_capacity, colour_);
    if (n.restarts > 0) line += "  " + paint(colour_, "\x1b[33m", "restarts " + std::to_string(n.restarts));
    if (n.children_omitted) line += fmt::format("  (+{} below --depth)", *n.children_omitted);
    out_ << line << '\n';
    if (depth > 0) prefix_ += last ? "   " : "│  ";
    ends_.resize(depth + 1);
    ends_[depth] = prefix_.size();
  }

  void cut(const tree_node&, std::uint64_t, const below_cut& below) {
    out_ << prefix_ << "└─ " << marker_text(below, max_depth_) << '\n';
  }

 private:
  std::ostream& out_;
  bool colour_;
  std::uint64_t max_depth_;
  std::string prefix_;
  std::vector<std::size_t> ends_;
};

class dot_tree {
 public:
  dot_tree(std::ostream& out, std::uint64_t max_depth) : out_(out), max_depth_(max_depth) {}

  void node(const tree_node& n, std::uint64_t depth, bool) {
    std::string label = dot_string(title(n)) + "\\n" + dot_string(n.status) + " mailbox " +
                        std::to_string(n.mailbox_length) + "/" +
                        (n.mailbox_capacity ? std::to_string(*n.mailbox_capacity) : "inf");
    if (n.restarts > 0) label += "\\nrestarts " + std::to_string(n.restarts);
    if (n.children_omitted) label += fmt::format("\\n+{} below --depth", *n.children_omitted);
    const char* colour = n.status == "dead" ? "red" : n.restarts > 0 ? "orange" : "black";
    const std::string id = dot_string(n.pid);
    out_ << fmt::format("  \"{}\" [label=\"{}\", color={}];\n", id, label, colour);
    ids_.resize(depth);
    if (depth > 0) out_ << fmt::format("  \"{}\" -> \"{}\";\n", ids_[depth - 1], id);
    ids_.push_back(id);
  }

  void cut(const tree_node& n, std::uint64_t, const below_cut& below) {
    const std::string id = dot_string(n.pid);
    out_ << fmt::format("  \"more below {}\" [label=\"{}\", shape=plaintext];\n", id,
                        dot_string(marker_text(below, max_depth_)));
    out_ << fmt::format("  \"{}\" -> \"more below {}\" [style=dashed];\n", id, id);
  }

 private:
  std::ostream& out_;
  std::uint64_t max_depth_;
  std::vector<std::string> ids_;  // ids_[d]: the node last printed at depth d
};

}  // namespace

void render_tree(const field& result, const tree_style& style, std::ostream& out) {
  const field roots = result.array("roots");
  // A first walk checks every field the printing walk will read, so a
  // malformed node anywhere prints an error and no tree; the output is
  // then written as it is made, never held whole (at full depth it is
  // quadratic in the depth: 600 MB for a 20,000-level chain).
  checked_tree checked;
  walk(roots, style.max_depth, checked);
  if (style.dot) {
    dot_tree dot(out, style.max_depth);
    out << "digraph weft {\n  node [shape=box, fontname=monospace];\n";
    walk(roots, style.max_depth, dot);
    out << "}\n";
  } else {
    text_tree text(out, style.colour, style.max_depth);
    walk(roots, style.max_depth, text);
  }
}

}  // namespace weft_shell
