#include "datadir/trust_package.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "base/fs.h"
#include "ossl/ossl.h"
#include "x509/certificate.h"

namespace herald::datadir {

namespace fsys = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kMaxFileBytes = 16 << 20;

// The regular files of DIR/trust/ (not its subfolders), by name.
Result<std::map<std::string, std::string>> read_trust_dir(const DataDir& dir) {
  HERALD_TRY_VOID(dir.require_initialised());
  std::error_code ec;
  std::map<std::string, std::string> files;
  for (const auto& e : fsys::directory_iterator(dir.trust_dir(), ec)) {
    if (!e.is_regular_file()) continue;
    const std::string name = e.path().filename().string();
    if (name == "manifest.json" || name.starts_with(".")) continue;  // ours is made fresh
    HERALD_TRY(auto data, fs::read_file(e.path(), kMaxFileBytes));
    files.emplace(name, std::move(data));
  }
  if (ec) {
    return make_error(ErrorCode::kIo,
                      "cannot list " + dir.trust_dir().string() + ": " + ec.message());
  }
  return files;
}

json cert_json(const std::string& file, const x509::Certificate& c) {
  return {{"file", file},
          {"subject", c.subject()},
          {"serial", c.serial().hex()},
          {"not_before", format_time(c.not_before())},
          {"not_after", format_time(c.not_after())},
          {"fingerprint_sha256", c.fingerprint_sha256()},
          {"key_type", c.key_info().name()}};
}

Result<json> manifest_of(const std::map<std::string, std::string>& files, TimePoint now) {
  json roots = json::array(), intermediates = json::array(), listed = json::array();
  std::set<std::string> seen;  // fingerprints: ca-bundle.pem repeats root.pem and intermediate.pem
  // The single-certificate files first, so each certificate is named by its own file.
  std::vector<std::pair<std::string, std::vector<x509::Certificate>>> pems;
  for (const auto& [name, data] : files) {
    if (!name.ends_with(".pem") || data.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
      continue;
    HERALD_TRY(auto certs, x509::Certificate::from_pem(data));
    pems.emplace_back(name, std::move(certs));
  }
  std::stable_sort(pems.begin(), pems.end(),
                   [](const auto& a, const auto& b) { return a.second.size() < b.second.size(); });
  for (const auto& [name, certs] : pems) {
    for (const auto& c : certs) {
      if (!seen.insert(c.fingerprint_sha256()).second) continue;
      (c.subject() == c.issuer() ? roots : intermediates).push_back(cert_json(name, c));
    }
  }
  json crl_urls = nullptr, ocsp_urls = json::array();
  if (auto it = files.find("endpoints.json"); it != files.end()) {
    json ep = json::parse(it->second, nullptr, false);
    if (ep.is_object()) {
      if (ep.contains("crl") && ep["crl"].is_object()) crl_urls = ep["crl"];
      if (ep.contains("ocsp") && ep["ocsp"].is_string()) ocsp_urls.push_back(ep["ocsp"]);
    }
  }
  for (const auto& [name, data] : files) {
    HERALD_TRY(auto digest,
               ossl::sha256(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size())));
    listed.push_back({{"name", name}, {"size", data.size()}, {"sha256", to_hex(digest, false)}});
  }
  return json{{"format", "herald-trust-package"}, {"version", 1},
              {"generated_at", format_time(now)}, {"roots", roots},
              {"intermediates", intermediates},   {"crl_urls", crl_urls},
              {"ocsp_urls", ocsp_urls},           {"files", listed}};
}

// One regular file of a ustar archive (POSIX.1-1988).
void tar_add(std::string& out, const std::string& name, std::string_view data, TimePoint mtime) {
  char h[512] = {};
  std::snprintf(h, 100, "%s", name.c_str());
  std::snprintf(h + 100, 8, "%07o", 0644);
  std::snprintf(h + 108, 8, "%07o", 0);
  std::snprintf(h + 116, 8, "%07o", 0);
  std::snprintf(h + 124, 12, "%011llo", static_cast<unsigned long long>(data.size()));
  std::snprintf(h + 136, 12, "%011llo",
                static_cast<unsigned long long>(mtime.time_since_epoch().count()));
  h[156] = '0';
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  std::memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h + 148, 8, "%06o", sum);
  h[155] = ' ';
  out.append(h, 512);
  out.append(data);
  out.append((512 - data.size() % 512) % 512, '\0');
}

}  // namespace

Result<json> trust_package_manifest(const DataDir& dir, TimePoint now) {
  HERALD_TRY(auto files, read_trust_dir(dir));
  return manifest_of(files, now);
}

Result<std::string> trust_package_archive(const DataDir& dir, TimePoint now) {
  HERALD_TRY(auto files, read_trust_dir(dir));
  HERALD_TRY(auto manifest, manifest_of(files, now));
  std::string tar;
  for (const auto& [name, data] : files) tar_add(tar, "herald-trust/" + name, data, now);
  tar_add(tar, "herald-trust/manifest.json", manifest.dump(2) + "\n", now);
  tar.append(1024, '\0');
  return tar;
}

}  // namespace herald::datadir
