#pragma once
// The dashboard's files (src/ui/assets/), embedded at build time by
// src/ui/assets.cmake: served by `herald serve` at /ui/ with no file read
// and no network at run time.

#include <span>
#include <string_view>

namespace herald::ui {

struct Asset {
  std::string_view name;          // "index.html", "app.js", ...
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view etag;          // a quoted strong ETag from the file's SHA-256
  std::string_view body;
};

// The asset called `name` (no directory), or nullptr.
[[nodiscard]] const Asset* find_asset(std::string_view name);
[[nodiscard]] std::span<const Asset> assets();

}  // namespace herald::ui
