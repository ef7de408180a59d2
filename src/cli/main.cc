// herald: private PKI and certificate lifecycle in one binary.
// main() assembles the dependencies and maps a failed command to one error
// line on stderr and the exit code of its error (base/error.cc).

#include <iostream>

#include "base/clock.h"
#include "cli/cli.h"

namespace {
constexpr const char* kDescription =
    "Herald: a private PKI. Run a three-tier CA (offline root, policy intermediate,\n"
    "online issuing CA), issue certificates under policy, revoke them, publish CRLs\n"
    "and keep an inventory of everything issued. `herald serve` runs the online CA:\n"
    "REST API, OCSP responder, CRL distribution and metrics (docs/api.md).\n\n"
    "Start with:  herald ca init   then   herald issue --profile server --cn web.internal\n"
    "Data directory: --dir DIR, else $HERALD_HOME, else ./herald-data.";
}  // namespace

int main(int argc, char** argv) {
  herald::SystemClock clock;
  herald::cli::Context ctx;
  ctx.clock = &clock;

  CLI::App app{kDescription, "herald"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "herald 0.1.0");
  herald::cli::add_ca_commands(app, ctx);
  herald::cli::add_issue_commands(app, ctx);
  herald::cli::add_revoke_commands(app, ctx);
  herald::cli::add_inventory_commands(app, ctx);
  herald::cli::add_retention_commands(app, ctx);
  herald::cli::add_report_commands(app, ctx);
  herald::cli::add_scan_commands(app, ctx);
  herald::cli::add_serve_commands(app, ctx);
  herald::cli::add_renew_commands(app, ctx);
  herald::cli::add_agent_commands(app, ctx);
  herald::cli::add_proxy_commands(app, ctx);
  herald::cli::add_acme_commands(app, ctx);
  herald::cli::add_verify_commands(app, ctx);
  herald::cli::add_probe_commands(app, ctx);
  herald::cli::add_trust_commands(app, ctx);
  herald::cli::add_store_commands(app, ctx);
  herald::cli::add_alert_commands(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "herald: error: " << e.what() << " (see --help)\n";
    return 64;
  }
  if (!ctx.result) {
    const auto& err = ctx.result.error();
    std::cerr << "herald: error: " << err.describe() << "\n";
    return herald::error_mapping(err.code).exit_code;
  }
  return 0;
}
