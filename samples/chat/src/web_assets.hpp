#pragma once
// The web page's files (samples/chat/web/*), served from the binary: the
// build turns each into a string in generated/web_assets.cpp
// (embed_assets.cmake), so the server needs no file at run time and the
// page cannot get out of step with the server that speaks its protocol.
//
// Any thread: the table is constant.

#include <optional>
#include <span>
#include <string_view>

namespace chat::web {

struct asset {
  std::string_view path;          // "/index.html", "/app.js", ...
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view body;
};

// Every embedded file, sorted by path (generated/web_assets.cpp).
std::span<const asset> all_assets() noexcept;

// The file a request's path names ("/" is "/index.html"; a query string
// is ignored); nullopt: there is none (404).
inline std::optional<asset> find_asset(std::string_view path) noexcept {
  if (const auto query = path.find('?'); query != std::string_view::npos) path = path.substr(0, query);
  if (path == "/") path = "/index.html";
  for (const asset& a : all_assets()) {
    if (a.path == path) return a;
  }
  return std::nullopt;
}

}  // namespace chat::web
