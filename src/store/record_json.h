#pragma once
// The JSON form of an inventory record, shared by `herald list/show --json`
// and the REST API, so both speak the same shape.

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "store/inventory.h"

namespace herald::store {

[[nodiscard]] nlohmann::json to_json(const CertRecord& r, TimePoint now);

}  // namespace herald::store
