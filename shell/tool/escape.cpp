#include "escape.hpp"

#include <cstdint>

namespace weft_shell {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

void append_hex_byte(std::string& out, unsigned char byte) {
  out += "\\x";
  out += hex_digits[byte >> 4];
  out += hex_digits[byte & 0xf];
}

// The length of the well-formed UTF-8 sequence starting at text[at]
// (Unicode 15, table 3-7: no overlong forms, no surrogates, nothing past
// U+10FFFF), or 0 if the byte there does not start one.
std::size_t utf8_sequence_length(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[at + i]); };
  const auto lead = byte(0);
  std::size_t length = 0;
  unsigned char second_min = 0x80, second_max = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) second_min = 0xa0;
    if (lead == 0xed) second_max = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) second_min = 0x90;
    if (lead == 0xf4) second_max = 0x8f;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  if (byte(1) < second_min || byte(1) > second_max) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
  }
  return length;
}

}  // namespace

std::string printable(std::string_view text, newlines keep) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto ch = static_cast<unsigned char>(text[i]);
    if (ch >= 0x80) {
      const std::size_t length = utf8_sequence_length(text, i);
      if (length == 0) {
        append_hex_byte(out, ch);
        ++i;
      } else if (length == 2 && ch == 0xc2 && static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
        // U+0080..U+009F: C1 controls (CSI is U+009B).
        out += "\\u00";
        out += hex_digits[(static_cast<unsigned char>(text[i + 1]) >> 4) & 0xf];
        out += hex_digits[static_cast<unsigned char>(text[i + 1]) & 0xf];
        i += 2;
      } else {
        out.append(text.substr(i, length));
        i += length;
      }
      continue;
    }
    ++i;
    if (ch == '\\') {
      out += "\\\\";
    } else if ((ch == '\n' || ch == '\t') && keep == newlines::keep) {
      out += static_cast<char>(ch);
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch < 0x20 || ch == 0x7f) {
      append_hex_byte(out, ch);
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out;
}

std::string dot_string(std::string_view text) {
  std::string out;
  for (const char ch : printable(text)) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out;
}

}  // namespace weft_shell
