#include "acme/status.h"

#include <array>
#include <utility>

namespace herald::acme {

namespace {

// Each enum's names, in declaration order.
constexpr std::array<std::string_view, 3> kAccount = {"valid", "deactivated", "revoked"};
constexpr std::array<std::string_view, 5> kOrder = {"pending", "ready", "processing", "valid",
                                                    "invalid"};
constexpr std::array<std::string_view, 6> kAuthz = {"pending",     "valid",   "invalid",
                                                    "deactivated", "expired", "revoked"};
constexpr std::array<std::string_view, 4> kChallenge = {"pending", "processing", "valid",
                                                        "invalid"};

template <typename S, size_t N>
std::optional<S> find(const std::array<std::string_view, N>& names, std::string_view text) {
  for (size_t i = 0; i < N; ++i)
    if (names[i] == text) return static_cast<S>(i);
  return std::nullopt;
}

}  // namespace

std::string_view to_string(AccountStatus s) { return kAccount.at(static_cast<size_t>(s)); }
std::string_view to_string(OrderStatus s) { return kOrder.at(static_cast<size_t>(s)); }
std::string_view to_string(AuthzStatus s) { return kAuthz.at(static_cast<size_t>(s)); }
std::string_view to_string(ChallengeStatus s) { return kChallenge.at(static_cast<size_t>(s)); }

template <>
std::optional<AccountStatus> parse<AccountStatus>(std::string_view text) {
  return find<AccountStatus>(kAccount, text);
}
template <>
std::optional<OrderStatus> parse<OrderStatus>(std::string_view text) {
  return find<OrderStatus>(kOrder, text);
}
template <>
std::optional<AuthzStatus> parse<AuthzStatus>(std::string_view text) {
  return find<AuthzStatus>(kAuthz, text);
}
template <>
std::optional<ChallengeStatus> parse<ChallengeStatus>(std::string_view text) {
  return find<ChallengeStatus>(kChallenge, text);
}

std::optional<AccountStatus> account_deactivate(AccountStatus from) {
  if (from == AccountStatus::kValid) return AccountStatus::kDeactivated;
  return std::nullopt;
}

std::optional<ChallengeStatus> challenge_start(ChallengeStatus from) {
  if (from == ChallengeStatus::kPending) return ChallengeStatus::kProcessing;
  return std::nullopt;
}

std::optional<ChallengeStatus> challenge_settle(ChallengeStatus from, bool valid) {
  if (from != ChallengeStatus::kProcessing) return std::nullopt;
  return valid ? ChallengeStatus::kValid : ChallengeStatus::kInvalid;
}

std::optional<AuthzStatus> authz_settle(AuthzStatus from, bool valid) {
  if (from != AuthzStatus::kPending) return std::nullopt;
  return valid ? AuthzStatus::kValid : AuthzStatus::kInvalid;
}

std::optional<AuthzStatus> authz_deactivate(AuthzStatus from) {
  if (from == AuthzStatus::kPending || from == AuthzStatus::kValid)
    return AuthzStatus::kDeactivated;
  return std::nullopt;
}

std::optional<OrderStatus> order_ready(OrderStatus from) {
  if (from == OrderStatus::kPending) return OrderStatus::kReady;
  return std::nullopt;
}

std::optional<OrderStatus> order_invalidate(OrderStatus from) {
  if (from == OrderStatus::kPending || from == OrderStatus::kReady) return OrderStatus::kInvalid;
  return std::nullopt;
}

std::optional<OrderStatus> order_finalize(OrderStatus from) {
  if (from == OrderStatus::kReady) return OrderStatus::kValid;
  return std::nullopt;
}

OrderStatus order_status_at(OrderStatus stored, TimePoint expires, TimePoint now) {
  if ((stored == OrderStatus::kPending || stored == OrderStatus::kReady) && expires <= now)
    return OrderStatus::kInvalid;
  return stored;
}

AuthzStatus authz_status_at(AuthzStatus stored, TimePoint expires, TimePoint now) {
  if (stored == AuthzStatus::kPending && expires <= now) return AuthzStatus::kExpired;
  return stored;
}

}  // namespace herald::acme
