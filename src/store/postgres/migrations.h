#pragma once
// The PostgreSQL schema migrations (migrations/NNNN_name.sql), compiled in
// by CMake, in version order. Internal to the PostgreSQL store.

#include <span>

namespace herald::store::postgres {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

[[nodiscard]] std::span<const Migration> migrations();

}  // namespace herald::store::postgres
