#pragma once
// certificates.fingerprint_sha256 on SQLite: a fingerprint in its canonical
// form ("AB:CD:...", 32 bytes as to_hex_colons writes them) is stored as
// its 32 bytes (a BLOB: 33 bytes in the row and in the UNIQUE index instead
// of 96; about 140 bytes a certificate, docs/benchmarks.md), anything else
// as the text given. Rows written before this change hold the text form:
// a reader takes either, and a lookup asks for both.
#include <optional>
#include <string>
#include <string_view>

#include <sqlite3.h>

#include "base/encoding.h"
#include "store/sqlite/connection.h"

namespace herald::store::sqlite {

// The 32 bytes of a canonical fingerprint; nullopt for any other text.
inline std::optional<Bytes> fingerprint_bytes(std::string_view fp) {
  if (fp.size() != 95) return std::nullopt;
  auto b = from_hex(fp);
  if (!b || b->size() != 32 || to_hex_colons(*b) != fp) return std::nullopt;
  return *b;
}

// Binds a fingerprint as it is stored.
inline void bind_fingerprint(Stmt& s, int i, std::string_view fp) {
  if (auto b = fingerprint_bytes(fp)) {
    s.bind_blob(i, *b);
  } else {
    s.bind(i, fp);
  }
}

// Reads a stored fingerprint back as text.
inline std::string read_fingerprint(Stmt& s, int i) {
  if (s.is_blob(i)) {
    Bytes b = s.blob(i);
    if (b.size() == 32) return to_hex_colons(b);
  }
  return s.text(i);
}

}  // namespace herald::store::sqlite
