// printable(): what weft-shell does to text from a program before it
// reaches a terminal, byte for byte.

#include "escape.hpp"

#include <doctest/doctest.h>

#include <string>

using weft_shell::dot_string;
using weft_shell::newlines;
using weft_shell::printable;

TEST_CASE("plain text and well-formed UTF-8 pass through printable unchanged") {
  CHECK(printable("lobby helper <0.12.0> (chat rooms)") == "lobby helper <0.12.0> (chat rooms)");
  CHECK(printable("Grüße, 世界, 🎉") == "Grüße, 世界, 🎉");
  CHECK(printable("\u00a0\u00ff\U0010ffff") == "\u00a0\u00ff\U0010ffff");  // just past C1, the last code point
  CHECK(printable("") == "");
}

TEST_CASE("C0 controls, DEL and backslashes are escaped so none reaches the terminal") {
  CHECK(printable("\x1b[2J\x1b]0;owned\x07") == "\\x1b[2J\\x1b]0;owned\\x07");
  CHECK(printable(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(printable("\x7f") == "\\x7f");
  CHECK(printable("line\nnext\ttab\rback") == "line\\nnext\\ttab\\rback");
  CHECK(printable("C:\\temp") == "C:\\\\temp");
  CHECK(printable("\\x1b") == "\\\\x1b");  // a literal backslash-x is told apart from an escape
}

TEST_CASE("free text keeps its newlines and tabs and still escapes every other control") {
  CHECK(printable("two\nlines\tand a tab", newlines::keep) == "two\nlines\tand a tab");
  CHECK(printable("\r\x1b[1A", newlines::keep) == "\\r\\x1b[1A");
}

TEST_CASE("C1 controls, which some terminals obey like ESC sequences, are escaped as code points") {
  CHECK(printable("\xc2\x9b"
                  "2J") == "\\u009b2J");  // CSI
  CHECK(printable("\xc2\x80\xc2\x9f") == "\\u0080\\u009f");
  CHECK(printable("\xc2\xa0") == "\xc2\xa0");  // U+00A0 is not a control
}

TEST_CASE("bytes that are not well-formed UTF-8 are escaped one by one") {
  CHECK(printable("\xff\xfe") == "\\xff\\xfe");
  CHECK(printable("\xc0\xaf") == "\\xc0\\xaf");                    // overlong '/'
  CHECK(printable("\xe0\x80\xaf") == "\\xe0\\x80\\xaf");           // overlong, three bytes
  CHECK(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");           // a UTF-16 surrogate
  CHECK(printable("\xf4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
  CHECK(printable("ab\xe4\xb8") == "ab\\xe4\\xb8");                // cut short at the end
  CHECK(printable("\xe4\xb8x") == "\\xe4\\xb8x");                  // cut short by an ASCII byte
  CHECK(printable("\x80"
                  "a") == "\\x80a");  // a lone continuation byte
}

TEST_CASE("a DOT string can neither close its quotes early nor smuggle a control character") {
  CHECK(dot_string("say \"hi\"") == "say \\\"hi\\\"");
  CHECK(dot_string("ends with \\") == "ends with \\\\\\\\");
  CHECK(dot_string("a\"];\nevil [label=\"x") == "a\\\"];\\\\nevil [label=\\\"x");
  CHECK(dot_string("\x1b[31m") == "\\\\x1b[31m");
}
