#pragma once
// The status of ACME objects (RFC 8555 §7.1.6) and the transitions Herald
// makes between them, in one place. The store keeps each object as a JSON
// document whose "status" is the RFC's text; the service reads it with
// parse() (text it does not know is an error, never a crash) and writes it
// with to_string().
//
// Transitions are small named functions: each takes the current status and
// returns the next one, or nullopt when the RFC's state machine (§7.1.6)
// does not allow that step from there. Callers decide what a refusal means
// (an error for the client, or "decided meanwhile, nothing to do").
//
//   account        valid -> deactivated                 (client request)
//                  ("revoked" is the server's; Herald never revokes accounts)
//   order          pending -> ready                     (every authorization valid)
//                  pending | ready -> invalid           (an authorization failed or
//                                                        was deactivated)
//                  ready -> valid                       (finalized: Herald signs in
//                                                        the request, so "processing"
//                                                        is never stored)
//                  pending | ready read as invalid once expired
//   authorization  pending -> valid | invalid           (its challenge's outcome)
//                  pending | valid -> deactivated       (client request)
//                  pending read as expired once expired
//   challenge      pending -> processing -> valid | invalid

#include <optional>
#include <string_view>

#include "base/clock.h"

namespace herald::acme {

enum class AccountStatus { kValid, kDeactivated, kRevoked };
enum class OrderStatus { kPending, kReady, kProcessing, kValid, kInvalid };
enum class AuthzStatus { kPending, kValid, kInvalid, kDeactivated, kExpired, kRevoked };
enum class ChallengeStatus { kPending, kProcessing, kValid, kInvalid };

// The RFC's text: "valid", "pending", ...
[[nodiscard]] std::string_view to_string(AccountStatus s);
[[nodiscard]] std::string_view to_string(OrderStatus s);
[[nodiscard]] std::string_view to_string(AuthzStatus s);
[[nodiscard]] std::string_view to_string(ChallengeStatus s);

// The status named `text` (exact, lowercase as the RFC writes it); nullopt
// for anything else. parse<OrderStatus>("ready").
template <typename S>
[[nodiscard]] std::optional<S> parse(std::string_view text);
template <>
[[nodiscard]] std::optional<AccountStatus> parse<AccountStatus>(std::string_view text);
template <>
[[nodiscard]] std::optional<OrderStatus> parse<OrderStatus>(std::string_view text);
template <>
[[nodiscard]] std::optional<AuthzStatus> parse<AuthzStatus>(std::string_view text);
template <>
[[nodiscard]] std::optional<ChallengeStatus> parse<ChallengeStatus>(std::string_view text);

// ---- transitions (nullopt: not allowed from `from`)

// Account: valid -> deactivated (RFC 8555 §7.3.6).
[[nodiscard]] std::optional<AccountStatus> account_deactivate(AccountStatus from);

// Challenge: pending -> processing (the client said it is ready, §7.5.1).
[[nodiscard]] std::optional<ChallengeStatus> challenge_start(ChallengeStatus from);
// Challenge: processing -> valid or invalid (the validator's outcome).
[[nodiscard]] std::optional<ChallengeStatus> challenge_settle(ChallengeStatus from, bool valid);

// Authorization: pending -> valid or invalid (its challenge's outcome).
[[nodiscard]] std::optional<AuthzStatus> authz_settle(AuthzStatus from, bool valid);
// Authorization: pending or valid -> deactivated (§7.5.2).
[[nodiscard]] std::optional<AuthzStatus> authz_deactivate(AuthzStatus from);

// Order: pending -> ready (the caller found every authorization valid).
[[nodiscard]] std::optional<OrderStatus> order_ready(OrderStatus from);
// Order: pending or ready -> invalid (an authorization failed or was deactivated).
[[nodiscard]] std::optional<OrderStatus> order_invalidate(OrderStatus from);
// Order: ready -> valid (its certificate was issued).
[[nodiscard]] std::optional<OrderStatus> order_finalize(OrderStatus from);

// ---- expiry (statuses as a client sees them at `now`; the stored one is not rewritten)

// A pending or ready order past `expires` is invalid.
[[nodiscard]] OrderStatus order_status_at(OrderStatus stored, TimePoint expires, TimePoint now);
// A pending authorization past `expires` is expired.
[[nodiscard]] AuthzStatus authz_status_at(AuthzStatus stored, TimePoint expires, TimePoint now);

}  // namespace herald::acme
