#pragma once
// Shared plumbing of the `herald` subcommands.
//
// Each add_*_commands() registers its subcommands on the app; a subcommand's
// callback runs the command and stores its Status in `result` so main() can
// print one error line and exit with the mapped code.

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/error.h"

namespace herald::cli {

struct Context {
  std::optional<std::string> dir;  // --dir
  const Clock* clock = nullptr;
  Status result;
};

void add_ca_commands(CLI::App& app, Context& ctx);
void add_issue_commands(CLI::App& app, Context& ctx);      // issue, sign
void add_revoke_commands(CLI::App& app, Context& ctx);     // revoke, crl
void add_inventory_commands(CLI::App& app, Context& ctx);  // list, show
void add_retention_commands(CLI::App& app, Context& ctx);  // inventory prune
void add_serve_commands(CLI::App& app, Context& ctx);      // serve, token
void add_renew_commands(CLI::App& app, Context& ctx);      // renew (client of serve)
void add_agent_commands(CLI::App& app, Context& ctx);      // agent (renewal daemon)
void add_proxy_commands(CLI::App& app, Context& ctx);      // proxy (mTLS in front of a service)
void add_acme_commands(CLI::App& app, Context& ctx);       // acme eab
void add_verify_commands(CLI::App& app, Context& ctx);     // verify
void add_probe_commands(CLI::App& app, Context& ctx);      // probe (TLS client + verify)
void add_trust_commands(CLI::App& app, Context& ctx);      // trust export|import|list|remove
void add_store_commands(CLI::App& app, Context& ctx);      // store migrate
void add_alert_commands(CLI::App& app, Context& ctx);      // alert silence|list
void add_report_commands(CLI::App& app, Context& ctx);     // report compliance|blast-radius
void add_scan_commands(CLI::App& app, Context& ctx);       // scan (deployed certificates)

// Adds --dir to a subcommand.
void add_dir_option(CLI::App& cmd, Context& ctx);

}  // namespace herald::cli
