#include "acme/problem.h"

#include <gtest/gtest.h>

namespace herald::acme {
namespace {

TEST(AcmeProblem, TableNamesAndStatuses) {
  EXPECT_EQ(problem_spec(ProblemType::kBadNonce).name, "badNonce");
  EXPECT_EQ(problem_spec(ProblemType::kBadCsr).name, "badCSR");
  EXPECT_EQ(problem_spec(ProblemType::kOrderNotReady).status, 403);
  EXPECT_EQ(problem_spec(ProblemType::kRateLimited).status, 429);
  EXPECT_EQ(problem_spec(ProblemType::kServerInternal).status, 500);
  EXPECT_EQ(problem_spec(ProblemType::kUnauthorized).status, 403);
  // The variants: the same type at another status.
  EXPECT_EQ(problem_spec(ProblemType::kNotFound).name, "malformed");
  EXPECT_EQ(problem_spec(ProblemType::kNotFound).status, 404);
  EXPECT_EQ(problem_spec(ProblemType::kMethodNotAllowed).status, 405);
  EXPECT_EQ(problem_spec(ProblemType::kUnsupportedMediaType).status, 415);
  EXPECT_EQ(problem_spec(ProblemType::kKeyInUse).status, 409);
  EXPECT_EQ(problem_spec(ProblemType::kAccountNotValid).name, "unauthorized");
  EXPECT_EQ(problem_spec(ProblemType::kAccountNotValid).status, 401);
  // A name parses to its usual row; unknown names do not parse.
  EXPECT_EQ(parse_problem_type("malformed"), ProblemType::kMalformed);
  EXPECT_EQ(parse_problem_type("unauthorized"), ProblemType::kUnauthorized);
  EXPECT_EQ(parse_problem_type("dns"), ProblemType::kDns);
  EXPECT_FALSE(parse_problem_type("caa"));
  EXPECT_FALSE(parse_problem_type(""));
}

TEST(AcmeProblem, ErrorCodesMapToTypes) {
  struct Case {
    ErrorCode code;
    ProblemType type;
  };
  for (auto [code, type] : {Case{ErrorCode::kPolicyViolation, ProblemType::kRejectedIdentifier},
                            Case{ErrorCode::kForbidden, ProblemType::kRejectedIdentifier},
                            Case{ErrorCode::kBadSignature, ProblemType::kBadCsr},
                            Case{ErrorCode::kMalformedInput, ProblemType::kMalformed},
                            Case{ErrorCode::kInvalidArgument, ProblemType::kMalformed},
                            Case{ErrorCode::kLintFailed, ProblemType::kMalformed},
                            Case{ErrorCode::kRateLimited, ProblemType::kRateLimited},
                            Case{ErrorCode::kUnauthenticated, ProblemType::kUnauthorized},
                            Case{ErrorCode::kNotFound, ProblemType::kServerInternal},
                            Case{ErrorCode::kConflict, ProblemType::kServerInternal},
                            Case{ErrorCode::kStore, ProblemType::kServerInternal},
                            Case{ErrorCode::kCrypto, ProblemType::kServerInternal},
                            Case{ErrorCode::kInternal, ProblemType::kServerInternal}}) {
    EXPECT_EQ(problem_type_for(code), type) << error_name(code);
  }
  // The fallback is for input the client sent.
  EXPECT_EQ(problem_type_for(ErrorCode::kMalformedInput, ProblemType::kBadCsr),
            ProblemType::kBadCsr);
  EXPECT_EQ(problem_type_for(ErrorCode::kLintFailed, ProblemType::kBadCsr), ProblemType::kBadCsr);
  EXPECT_EQ(problem_type_for(ErrorCode::kStore, ProblemType::kBadCsr),
            ProblemType::kServerInternal);
}

TEST(AcmeProblem, ProblemOfPrefersTheTagAndHidesInternalMessages) {
  auto tagged =
      acme_error(ErrorCode::kConflict, "finalized meanwhile", ProblemType::kOrderNotReady);
  Problem p = problem_of(tagged.value());
  EXPECT_EQ(p.type, ProblemType::kOrderNotReady);
  EXPECT_EQ(p.detail, "finalized meanwhile");
  EXPECT_EQ(p.status(), 403);

  p = problem_of(Error{ErrorCode::kStore, "database is locked: /var/lib/herald/x.db", {}});
  EXPECT_EQ(p.type, ProblemType::kServerInternal);
  EXPECT_EQ(p.detail, "the server could not complete the request");

  p = problem_of(Error{ErrorCode::kForbidden, "provisioner 'a' may not request DNS name 'x'", {}});
  EXPECT_EQ(p.type, ProblemType::kRejectedIdentifier);
  EXPECT_EQ(p.detail, "provisioner 'a' may not request DNS name 'x'");

  // A tag Herald does not know is not trusted to be a client's fault.
  p = problem_of(Error{ErrorCode::kMalformedInput, "x", {{"acme", "noSuchType"}}});
  EXPECT_EQ(p.type, ProblemType::kServerInternal);
}

TEST(AcmeProblem, Documents) {
  auto j = problem_json({ProblemType::kNotFound, "no order"});
  EXPECT_EQ(j["type"], "urn:ietf:params:acme:error:malformed");
  EXPECT_EQ(j["status"], 404);
  EXPECT_EQ(j["detail"], "no order");
  EXPECT_FALSE(j.contains("algorithms"));
  j = problem_json({ProblemType::kBadSignatureAlgorithm, "HS256"});
  ASSERT_TRUE(j.contains("algorithms"));
  EXPECT_EQ(j["algorithms"].size(), 4u);
  // A challenge's error: the validator's type, status 400.
  j = challenge_error_json("unauthorized", "HTTP 404");
  EXPECT_EQ(j["type"], "urn:ietf:params:acme:error:unauthorized");
  EXPECT_EQ(j["status"], 400);
  j = challenge_error_json("bogus", "?");
  EXPECT_EQ(j["type"], "urn:ietf:params:acme:error:serverInternal");
}

}  // namespace
}  // namespace herald::acme
