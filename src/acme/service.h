#pragma once
// The ACME server (RFC 8555) behind `herald serve`'s HTTPS listener, at
// /acme/<provisioner>/...: directory, newNonce, newAccount (with
// onlyReturnExisting and External Account Binding), account update,
// deactivation and keyChange, newOrder (DNS and IP identifiers, RFC 8738),
// authorizations, http-01 / tls-alpn-01 / dns-01 challenges (validated on a
// background pool), finalize, certificate download, revokeCert, and ACME
// Renewal Information (RFC 9773). Every error is an RFC 8555 problem
// document (problem.h); every POST answer carries a fresh Replay-Nonce.
//
// State lives in the store (accounts, orders, authorizations with their
// challenges, as JSON documents whose "status" follows status.h); nonces in
// memory or the store (see nonces.h).
//
// Where the code is, by resource:
//   service.cc         construction, routing, the JWS envelope and nonces,
//                      account authentication, housekeeping
//   account.cc         newAccount (with EAB), account update and
//                      deactivation, keyChange
//   order.cc           newOrder, order, orders list, finalize, certificate,
//                      renewal info, revokeCert
//   authorization.cc   authorizations, challenges, the validation queue and
//                      how an outcome settles an authorization and its order
//   service_internal.h what these files share (the request context, responses)

#include <array>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include "acme/challenge_validator.h"
#include "acme/nonces.h"
#include "acme/problem.h"
#include "acme/validation/validator.h"
#include "base/clock.h"
#include "ca/authority.h"
#include "net/http.h"
#include "policy/profile.h"
#include "store/acme_store.h"
#include "store/inventory.h"
#include "x509/csr.h"

namespace herald::acme {

namespace internal {
struct Identifier;  // service_internal.h
}

// Which names a provisioner may certify is not its business here: the
// Backend's `authorize` decides (at newOrder) and the issuance pipeline
// again at finalize.
struct Provisioner {
  std::string name;
  policy::Profile profile = policy::Profile::kServer;
  std::optional<std::chrono::seconds> ttl;
  bool require_eab = false;
};

struct Settings {
  // The validator's network settings; newOrder also refuses an ip
  // identifier in a denied range (no challenge could ever prove it).
  validation::Settings validation;
  // Who decides challenges (challenge_validator.h): a NetworkValidator, an
  // AlwaysValid for [acme] insecure_skip_validation, or a test's script.
  // Unset: a NetworkValidator over `validation`.
  std::shared_ptr<const ChallengeValidator> validator;
  std::chrono::seconds order_lifetime{24 * 3600};
  std::chrono::seconds authz_lifetime{24 * 3600};
  int orders_per_account_per_hour = 300;
  int orders_per_identifier_per_hour = 50;
  // newOrder: identifiers per order (more: rejectedIdentifier), and orders
  // pending or ready per account (more: 429 rateLimited); 0: no limit.
  size_t max_identifiers_per_order = 100;
  int max_pending_orders_per_account = 100;
  // newAccount: accounts created per source address (IPv6: per /64) per
  // hour, a token bucket (429 rateLimited with Retry-After); 0: no limit.
  int new_accounts_per_address_per_hour = 20;
  // Validations in flight at once per account and per order; more wait
  // (their challenges stay processing), accounts taking turns.
  int validations_per_account = 2;
  int validations_per_order = 2;
};

// What the service needs from the online CA.
struct Backend {
  // Issues through the CA's pipeline; `record` commits the certificate
  // (together with the order it finalizes).
  std::function<Result<ca::Issued>(const x509::Csr&, policy::Profile,
                                   std::optional<std::chrono::seconds>, const store::Labels&,
                                   const ca::Recorder& record)>
      issue;
  std::function<Result<store::CertRecord>(const Serial&, x509::RevocationReason)> revoke;
  std::function<std::string()> chain_pem;  // issuing + intermediate, PEM
  // May `provisioner` certify these names with `profile`? Asked at newOrder
  // with the order's identifiers as SANs, so that a name the CA would refuse
  // at finalize is refused before the client proves control of it.
  // kForbidden or kPolicyViolation (naming the refused name): the order is
  // refused with rejectedIdentifier. Required.
  std::function<Status(const std::string& provisioner, policy::Profile,
                       const std::vector<x509::San>&)>
      authorize;
};

class Service {
 public:
  struct Ctx;  // one request's context (service_internal.h)

  Service(const Clock& clock, store::AcmeStore& acme_store, store::Inventory& inventory,
          Backend backend, int validation_threads = 4);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Where nonces come from (before serving): NoncePool by default (one
  // node); SharedNonces when several nodes share the store.
  void use_nonces(std::unique_ptr<NonceSource> nonces) { nonces_ = std::move(nonces); }
  // Replaces provisioners and settings (start and SIGHUP).
  void configure(std::vector<Provisioner> provisioners, Settings settings);
  // Periodic work (App::tick, every 200 ms): every 5 s (at once again while
  // a full batch was found) deletes a batch of expired orders with their
  // authorizations (store::AcmeStore::acme_purge_expired).
  void housekeeping();
  // Handles /acme/...; false if the path is not ACME's.
  bool handle(const net::Request& req, net::Response& res);
  // True for the ACME requests that read state (directory, nonces, renewal
  // info, POST-as-GET of an order, an authorization, a certificate or an
  // account's order list), judged from the method and path alone; `herald
  // serve` answers them on its I/O threads, saving the hop to the pool.
  [[nodiscard]] static bool is_read(const net::Request& req);

 private:
  struct State {
    std::vector<Provisioner> provisioners;
    Settings settings;
  };

  void route(Ctx& c);
  void directory(Ctx& c);
  void new_nonce(Ctx& c);
  void new_account(Ctx& c);
  void account(Ctx& c, const std::string& id);
  void key_change(Ctx& c);
  void new_order(Ctx& c);
  void order(Ctx& c, const std::string& id);
  void authz(Ctx& c, const std::string& id);
  void challenge(Ctx& c, const std::string& authz_id, const std::string& type);
  void finalize(Ctx& c, const std::string& id);
  void certificate(Ctx& c, const std::string& serial_hex);
  void revoke_cert(Ctx& c);
  void renewal_info(Ctx& c, const std::string& cert_id);
  void orders_list(Ctx& c, const std::string& account_id);

  // Parses the JWS envelope: its URL must be this request's and its nonce
  // must pass NonceSource::check (no store write: nothing is spent before
  // the signature verified); sets c.jws and c.payload.
  std::optional<Problem> check_envelope(Ctx& c);
  // Verifies the request's signature with `key` and then spends its nonce
  // (badNonce if it was used meanwhile): the one place a nonce is consumed.
  std::optional<Problem> verify_signature(Ctx& c, EVP_PKEY& key);
  // check_envelope, a "kid", and authenticate_account: the start of every
  // request made by an account.
  std::optional<Problem> authenticate_kid(Ctx& c);
  // The Backend's `authorize` for a new order's identifiers; the problem
  // names the refused identifier.
  std::optional<Problem> authorize_identifiers(const Ctx& c,
                                               const std::set<internal::Identifier>& idents);
  // Checks a kid-signed request's account and signature (after the envelope
  // checks); sets c.account_id and c.account.
  std::optional<Problem> authenticate_account(Ctx& c);
  // The account's public key from its stored JWK, imported once and cached
  // (importing an EC point costs more than verifying the signature).
  std::shared_ptr<EVP_PKEY> account_key(const nlohmann::json& jwk);
  // A certificate by its ARI identifier (RFC 9773 §4.1).
  Result<store::CertRecord> find_by_cert_id(const std::string& cert_id);
  // The configuration in force (a snapshot: configure() may replace it).
  std::shared_ptr<const State> state() const;
  // One validation thread: runs queued validations until the service stops.
  void validation_worker();
  // Asks `validator` about the `type` challenge of the authorization `authz_doc`
  // (the key authorization from the account's JWK).
  static validation::Outcome validate(const ChallengeValidator& validator,
                                      const nlohmann::json& authz_doc, const std::string& type,
                                      const nlohmann::json& account_jwk);
  // Validates one challenge (on a background thread); updates authz and order.
  void run_validation(const std::string& authz_id, const std::string& type);
  // Applies a validation outcome to the authorization `doc` (read in `t`) if
  // its `type` challenge is still processing, and writes it, with its order
  // when the order changes (ready, or invalid); status.h's transitions.
  Status settle(store::AcmeTxn& t, nlohmann::json& doc, const std::string& authz_id,
                const std::string& type, const validation::Outcome& out);
  // Queues a validation for `account`'s `order` (see Settings::validations_per_*).
  void enqueue(const std::string& account, const std::string& order, std::function<void()> job);
  // A new account from `address` may be created now (taking a token), or the
  // seconds until one may.
  std::optional<std::chrono::seconds> take_account_token(const std::string& address,
                                                         int per_hour);
  // Serialises this process's finalize requests for one order (the store's
  // compare-and-set on the order decides between nodes).
  std::mutex& order_lock(const std::string& order_id);

  const Clock& clock_;
  store::AcmeStore& store_;
  store::Inventory& inventory_;
  Backend backend_;
  std::unique_ptr<NonceSource> nonces_ = std::make_unique<NoncePool>();

  static constexpr size_t kMaxCachedKeys = 100000;
  std::mutex keys_mu_;
  std::unordered_map<std::string, std::shared_ptr<EVP_PKEY>> keys_;  // JWK text -> key

  mutable std::mutex state_mu_;
  std::shared_ptr<const State> state_;
  std::array<std::mutex, 64> order_locks_;

  // Validations: a queue per account, served in turn; an account or order
  // at its in-flight limit is skipped until one of its validations ends.
  struct Job {
    std::string account;
    std::string order;
    std::function<void()> run;
  };
  std::optional<Job> next_job_locked();
  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::unordered_map<std::string, std::deque<Job>> queued_;  // by account
  std::deque<std::string> turns_;  // accounts with queued jobs, in turn
  std::unordered_map<std::string, int> running_accounts_, running_orders_;
  int per_account_ = 2, per_order_ = 2;
  bool stopping_ = false;
  std::vector<std::thread> workers_;

  // newAccount per source address: token buckets, at most kMaxAddresses
  // (the least recently used goes first).
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last;
  };
  static constexpr size_t kMaxAddresses = 10000;
  std::mutex buckets_mu_;
  std::unordered_map<std::string, Bucket> buckets_;

  std::mutex purge_mu_;
  std::chrono::steady_clock::time_point next_purge_{};
};

}  // namespace herald::acme
