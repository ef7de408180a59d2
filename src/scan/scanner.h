#pragma once
// `herald scan`'s engine: TLS connections to the given targets only, a
// bounded number at a time (a pool of worker threads, each running one
// probe at a time on a plain non-blocking socket and poll()), each probe
// under one deadline covering connect and handshake. The presented chain is
// taken WITHOUT verification during the handshake (the client verifies
// nothing there), then checked with Herald's verifier (verify/verify.h)
// against the name asked (the SNI name sent, else the target's host), and
// recorded as a sighting in the store (store/deployments.h).
//
// Bounds against a hostile server: the handshake's certificate message is
// capped (kMaxCertList bytes, OpenSSL refuses more), at most kMaxChain
// certificates of it are kept, and nothing is read after the handshake.
// Name resolution (getaddrinfo) is not under the deadline.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/encoding.h"
#include "scan/targets.h"
#include "store/deployments.h"
#include "verify/verify.h"

namespace herald::scan {

constexpr size_t kMaxCertList = 256 << 10;
constexpr size_t kMaxChain = 10;
constexpr size_t kMaxSniNames = 64;

struct Probe {
  Target target;
  std::string sni;  // "" = none sent
};

struct ProbeOutcome {
  std::string endpoint;
  std::string sni;
  bool reachable = false;  // TCP connected
  bool tls = false;        // handshake completed, a certificate presented
  std::string error;       // why not, when not
  std::string protocol;    // "TLSv1.3"
  std::string verified_name;
  // When tls:
  std::string fingerprint_sha256;
  std::string serial_hex;
  std::string subject;
  TimePoint not_after;
  bool foreign = false;
  bool valid = false;
  std::vector<store::ChainProblem> problems;
  std::string store_error;  // recording failed
};

struct ScanOptions {
  size_t concurrency = 32;
  std::chrono::milliseconds timeout{5000};
};

struct Summary {
  size_t targets = 0;
  size_t probes = 0;
  size_t reachable = 0;
  size_t tls = 0;
  size_t herald_certificates = 0;          // distinct leaves found in the inventory
  size_t foreign_certificates = 0;         // distinct leaves not issued by this CA
  size_t valid = 0;                        // probes whose chain verified
  std::map<std::string, size_t> problems;  // by code: probes showing it
  size_t store_errors = 0;
};

// The probes of `targets` × `sni_names`. With no names, each target once:
// a host name sends itself as SNI, an IP address sends none.
[[nodiscard]] std::vector<Probe> make_probes(const std::vector<Target>& targets,
                                             const std::vector<std::string>& sni_names);

// What a presented chain is to the verifier and the store: its problems
// (verify's findings, plus "self_signed" for a self-signed leaf that is not
// a trust anchor), and the leaf's details. `chain` is leaf first, non-empty.
struct Analysis {
  bool valid = false;
  std::vector<store::ChainProblem> problems;
  store::DiscoveredCertificate leaf;
};
[[nodiscard]] Analysis analyze_chain(const verify::Verifier& verifier,
                                     const std::vector<Bytes>& chain, const std::string& name,
                                     TimePoint at);

// Runs every probe; `on_done` is called (from worker threads, serialised)
// after each probe has been checked and recorded. `store` may be null (no
// recording). Returns when all probes are done.
[[nodiscard]] Summary run_scan(
    const std::vector<Probe>& probes, const ScanOptions& options, const verify::Verifier& verifier,
    store::DeploymentStore* store, const Clock& clock,
    const std::function<void(const ProbeOutcome&, size_t done)>& on_done);

}  // namespace herald::scan
