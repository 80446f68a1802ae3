#pragma once
// Making text from a program safe to print. Names, labels, states, reasons
// and event texts come from the program being inspected, and from whoever
// can influence it (an actor's name may come from a client of the
// service): printed raw, an ESC or CSI in them would drive the operator's
// terminal (clear the screen, move the cursor, retitle the window, paste
// into the next prompt). Every text the tool prints from an answer goes
// through printable(); --json output does not (it is the exact answer).

#include <string>
#include <string_view>

namespace weft_shell {

// What printable() lets through as is.
enum class newlines {
  escape,  // one-line fields (names, labels, reasons): \n and \t escaped too
  keep,    // free text (an actor's state): \n and \t kept, other controls escaped
};

// `text` with C-style escapes for everything a terminal could act on:
// \\ for a backslash (so an escape in the output always means one was
// made), \n \r \t, \xHH for the other C0 controls and DEL, \u0080 to \u009f
// for the C1 controls (which some terminals take as ESC sequences), and
// \xHH for each byte that is not part of well-formed UTF-8.
std::string printable(std::string_view text, newlines keep = newlines::escape);

// A DOT quoted string's contents: printable(), then quotes and
// backslashes escaped, so a label can neither end its string early nor
// run into Graphviz's own \n \l \r escapes.
std::string dot_string(std::string_view text);

}  // namespace weft_shell
