#pragma once
// The reload action: a shell command run after new files are in place.

#include <chrono>
#include <string>

#include "base/error.h"

namespace herald::agent {

struct ReloadOutcome {
  bool ok = false;
  bool timed_out = false;
  int exit_code = -1;  // when it exited
  int signal = 0;      // when a signal ended it
  std::chrono::milliseconds took{0};
  int sent_signal = 0;  // signal_pid_file(): the signal sent, and to whom
  int pid = 0;
  [[nodiscard]] std::string describe() const;  // "exit 0 in 12 ms", "timed out after 30 s", ...
};

// Runs `/bin/sh -c command` in its own process group with the signal mask
// cleared, stdout and stderr inherited, stdin from /dev/null. After
// `timeout` the group gets SIGTERM, and SIGKILL 2 s later. An error only if
// the command could not be started at all.
[[nodiscard]] Result<ReloadOutcome> run_reload(const std::string& command,
                                               std::chrono::milliseconds timeout);

// The other reload action: a signal to the process whose PID is in
// `pid_file` (nginx -s reload is SIGHUP to the master in /run/nginx.pid).
// Fails when the file is missing or malformed, names PID <= 1, or the
// process does not exist (or is not ours to signal). Never runs a shell.
[[nodiscard]] Result<ReloadOutcome> signal_pid_file(const std::string& pid_file, int signal);

// "HUP", "SIGHUP", "USR1", "USR2", "TERM", "INT", "QUIT", "WINCH" -> number;
// kInvalidArgument for anything else.
[[nodiscard]] Result<int> parse_signal_name(const std::string& name);

}  // namespace herald::agent
