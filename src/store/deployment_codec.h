#pragma once
// How both adapters keep a deployment's chain, problems and a discovered
// certificate's SANs in a text column: JSON (chain as base64 DER). Internal
// to the store adapters.

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/encoding.h"
#include "store/deployments.h"

namespace herald::store::deployment_codec {

inline std::string encode_chain(const std::vector<Bytes>& chain) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& der : chain) j.push_back(base64_encode(der));
  return j.dump();
}

inline std::vector<Bytes> decode_chain(const std::string& text) {
  std::vector<Bytes> out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& v : j) {
    if (!v.is_string()) continue;
    if (auto der = base64_decode(v.get<std::string>())) out.push_back(std::move(*der));
  }
  return out;
}

inline std::string encode_problems(const std::vector<ChainProblem>& problems) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& p : problems) j.push_back({{"code", p.code}, {"message", p.message}});
  return j.dump();
}

inline std::vector<ChainProblem> decode_problems(const std::string& text) {
  std::vector<ChainProblem> out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& v : j) {
    if (!v.is_object()) continue;
    out.push_back({v.value("code", std::string()), v.value("message", std::string())});
  }
  return out;
}

inline std::string encode_strings(const std::vector<std::string>& values) {
  return nlohmann::json(values).dump();
}

inline std::vector<std::string> decode_strings(const std::string& text) {
  std::vector<std::string> out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_array()) return out;
  for (const auto& v : j) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace herald::store::deployment_codec
