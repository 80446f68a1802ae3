#pragma once
// Subjects and subject patterns, with NATS's rules (what pubsub.hpp
// routes on):
//
//   subject   tokens separated by '.', none empty, no wildcard:
//             "orders.eu.created"
//   pattern   a subject whose tokens may be wildcards:
//             '*' matches exactly one token        "orders.*.created"
//             '>' matches one or more tokens, and  "orders.>"
//                 may only be the last token
//
// A wildcard is a whole token: "orders.e*" is the literal token "e*" in
// NATS, but weft refuses it as ambiguous (valid_pattern says false), as
// it refuses empty tokens ("a..b", ".a", "a.") and whitespace.
//
// Pure functions: any thread.

#include <string_view>

namespace weft::actors {

// A subject one may publish to.
bool valid_subject(std::string_view subject) noexcept;
// A pattern one may subscribe with (every valid subject is one).
bool valid_pattern(std::string_view pattern) noexcept;
// Whether `pattern` matches `subject`; false if either is not valid.
bool subject_matches(std::string_view pattern, std::string_view subject) noexcept;

}  // namespace weft::actors
