#include "acme/status.h"

#include <gtest/gtest.h>

#include <string>

namespace herald::acme {
namespace {

template <typename S>
void round_trips(std::initializer_list<S> all) {
  for (S s : all) {
    EXPECT_EQ(parse<S>(to_string(s)), s) << to_string(s);
  }
}

TEST(AcmeStatus, NamesRoundTripAndUnknownTextIsRefused) {
  round_trips({AccountStatus::kValid, AccountStatus::kDeactivated, AccountStatus::kRevoked});
  round_trips({OrderStatus::kPending, OrderStatus::kReady, OrderStatus::kProcessing,
               OrderStatus::kValid, OrderStatus::kInvalid});
  round_trips({AuthzStatus::kPending, AuthzStatus::kValid, AuthzStatus::kInvalid,
               AuthzStatus::kDeactivated, AuthzStatus::kExpired, AuthzStatus::kRevoked});
  round_trips({ChallengeStatus::kPending, ChallengeStatus::kProcessing, ChallengeStatus::kValid,
               ChallengeStatus::kInvalid});
  EXPECT_EQ(to_string(OrderStatus::kReady), "ready");
  EXPECT_EQ(to_string(AuthzStatus::kDeactivated), "deactivated");
  // What a store could hold that Herald never wrote.
  for (const char* junk : {"", "Valid", "VALID", " valid", "valid ", "ready\0x", "unknown"}) {
    EXPECT_FALSE(parse<AccountStatus>(junk)) << junk;
    EXPECT_FALSE(parse<ChallengeStatus>(junk)) << junk;
  }
  EXPECT_FALSE(parse<AccountStatus>("pending"));   // not an account status
  EXPECT_FALSE(parse<ChallengeStatus>("ready"));   // not a challenge status
  EXPECT_FALSE(parse<OrderStatus>("expired"));     // orders are invalid once expired
  EXPECT_FALSE(parse<AuthzStatus>("processing"));  // challenges process, authorizations don't
}

TEST(AcmeStatus, AccountOnlyDeactivatesWhenValid) {
  EXPECT_EQ(account_deactivate(AccountStatus::kValid), AccountStatus::kDeactivated);
  EXPECT_FALSE(account_deactivate(AccountStatus::kDeactivated));
  EXPECT_FALSE(account_deactivate(AccountStatus::kRevoked));
}

TEST(AcmeStatus, ChallengeGoesPendingProcessingThenValidOrInvalid) {
  EXPECT_EQ(challenge_start(ChallengeStatus::kPending), ChallengeStatus::kProcessing);
  for (auto s : {ChallengeStatus::kProcessing, ChallengeStatus::kValid, ChallengeStatus::kInvalid})
    EXPECT_FALSE(challenge_start(s)) << to_string(s);  // started once
  EXPECT_EQ(challenge_settle(ChallengeStatus::kProcessing, true), ChallengeStatus::kValid);
  EXPECT_EQ(challenge_settle(ChallengeStatus::kProcessing, false), ChallengeStatus::kInvalid);
  for (auto s : {ChallengeStatus::kPending, ChallengeStatus::kValid, ChallengeStatus::kInvalid}) {
    EXPECT_FALSE(challenge_settle(s, true)) << to_string(s);  // not started, or decided
    EXPECT_FALSE(challenge_settle(s, false)) << to_string(s);
  }
}

TEST(AcmeStatus, AuthorizationSettlesFromPendingAndDeactivatesFromPendingOrValid) {
  EXPECT_EQ(authz_settle(AuthzStatus::kPending, true), AuthzStatus::kValid);
  EXPECT_EQ(authz_settle(AuthzStatus::kPending, false), AuthzStatus::kInvalid);
  // Decided otherwise meanwhile: a late outcome changes nothing.
  for (auto s : {AuthzStatus::kValid, AuthzStatus::kInvalid, AuthzStatus::kDeactivated,
                 AuthzStatus::kExpired, AuthzStatus::kRevoked}) {
    EXPECT_FALSE(authz_settle(s, true)) << to_string(s);
    EXPECT_FALSE(authz_settle(s, false)) << to_string(s);
  }
  EXPECT_EQ(authz_deactivate(AuthzStatus::kPending), AuthzStatus::kDeactivated);
  EXPECT_EQ(authz_deactivate(AuthzStatus::kValid), AuthzStatus::kDeactivated);
  for (auto s : {AuthzStatus::kInvalid, AuthzStatus::kDeactivated, AuthzStatus::kExpired,
                 AuthzStatus::kRevoked})
    EXPECT_FALSE(authz_deactivate(s)) << to_string(s);
}

TEST(AcmeStatus, OrderReadyInvalidAndFinalized) {
  EXPECT_EQ(order_ready(OrderStatus::kPending), OrderStatus::kReady);
  for (auto s :
       {OrderStatus::kReady, OrderStatus::kProcessing, OrderStatus::kValid, OrderStatus::kInvalid})
    EXPECT_FALSE(order_ready(s)) << to_string(s);
  EXPECT_EQ(order_invalidate(OrderStatus::kPending), OrderStatus::kInvalid);
  EXPECT_EQ(order_invalidate(OrderStatus::kReady), OrderStatus::kInvalid);
  for (auto s : {OrderStatus::kProcessing, OrderStatus::kValid, OrderStatus::kInvalid})
    EXPECT_FALSE(order_invalidate(s)) << to_string(s);  // an issued order stays valid
  EXPECT_EQ(order_finalize(OrderStatus::kReady), OrderStatus::kValid);
  for (auto s : {OrderStatus::kPending, OrderStatus::kProcessing, OrderStatus::kValid,
                 OrderStatus::kInvalid})
    EXPECT_FALSE(order_finalize(s)) << to_string(s);
}

TEST(AcmeStatus, ExpiryAsClientsSeeIt) {
  const TimePoint t{std::chrono::seconds(1'700'000'000)};
  const auto later = t + std::chrono::seconds(1);
  EXPECT_EQ(order_status_at(OrderStatus::kPending, t, t - std::chrono::seconds(1)),
            OrderStatus::kPending);
  EXPECT_EQ(order_status_at(OrderStatus::kPending, t, t), OrderStatus::kInvalid);  // at expiry
  EXPECT_EQ(order_status_at(OrderStatus::kReady, t, later), OrderStatus::kInvalid);
  EXPECT_EQ(order_status_at(OrderStatus::kValid, t, later), OrderStatus::kValid);  // issued stays
  EXPECT_EQ(authz_status_at(AuthzStatus::kPending, t, later), AuthzStatus::kExpired);
  EXPECT_EQ(authz_status_at(AuthzStatus::kPending, later, t), AuthzStatus::kPending);
  EXPECT_EQ(authz_status_at(AuthzStatus::kValid, t, later), AuthzStatus::kValid);
}

}  // namespace
}  // namespace herald::acme
