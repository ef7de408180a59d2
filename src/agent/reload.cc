#include "agent/reload.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace herald::agent {

using namespace std::chrono;

std::string ReloadOutcome::describe() const {
  if (sent_signal != 0) {
    return "signal " + std::to_string(sent_signal) + " sent to process " + std::to_string(pid);
  }
  const std::string in = " in " + std::to_string(took.count()) + " ms";
  if (timed_out) return "timed out after " + std::to_string(took.count()) + " ms (killed)";
  if (signal != 0) return "killed by signal " + std::to_string(signal) + in;
  return "exit " + std::to_string(exit_code) + in;
}

namespace {

// Waits for `pid` until `deadline`; true when it was reaped.
bool wait_until(pid_t pid, steady_clock::time_point deadline, int& status) {
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return true;  // nothing left to wait for
    if (steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
}

}  // namespace

Result<ReloadOutcome> run_reload(const std::string& command, milliseconds timeout) {
  const auto start = steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    return make_error(ErrorCode::kIo,
                      std::string("cannot start the reload command: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      if (devnull != 0) ::close(devnull);
    }
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also in the parent: whoever runs first
  ReloadOutcome out;
  int status = 0;
  if (!wait_until(pid, start + timeout, status)) {
    out.timed_out = true;
    ::kill(-pid, SIGTERM);
    if (!wait_until(pid, steady_clock::now() + seconds(2), status)) {
      ::kill(-pid, SIGKILL);
      wait_until(pid, steady_clock::now() + seconds(10), status);
    }
    ::kill(-pid, SIGKILL);  // whatever of the group is left
    out.took = duration_cast<milliseconds>(steady_clock::now() - start);
    return out;
  }
  out.took = duration_cast<milliseconds>(steady_clock::now() - start);
  if (WIFEXITED(status)) {
    out.exit_code = WEXITSTATUS(status);
    out.ok = out.exit_code == 0;
  } else if (WIFSIGNALED(status)) {
    out.signal = WTERMSIG(status);
  }
  return out;
}

Result<int> parse_signal_name(const std::string& name) {
  std::string n = name.starts_with("SIG") ? name.substr(3) : name;
  static constexpr std::pair<const char*, int> kSignals[] = {
      {"HUP", SIGHUP},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM},
      {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"WINCH", SIGWINCH}};
  for (const auto& [text, number] : kSignals) {
    if (n == text) return number;
  }
  return make_error(ErrorCode::kInvalidArgument,
                    "reload signal '" + name + "': one of HUP, USR1, USR2, TERM, INT, QUIT, WINCH");
}

Result<ReloadOutcome> signal_pid_file(const std::string& pid_file, int sig) {
  const auto t0 = steady_clock::now();
  int fd = ::open(pid_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return make_error(ErrorCode::kIo,
                      "cannot read the PID file " + pid_file + ": " + std::strerror(errno));
  }
  char buf[32];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return make_error(ErrorCode::kIo, "the PID file " + pid_file + " is empty");
  buf[n] = 0;
  std::string text(buf, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) {
    text.pop_back();
  }
  long pid = 0;
  bool digits = !text.empty() && text.size() <= 10;
  for (char c : text) {
    if (c < '0' || c > '9') digits = false;
  }
  if (digits) pid = std::stol(text);
  if (!digits || pid <= 1 || pid > 4194304) {
    return make_error(ErrorCode::kMalformedInput,
                      "the PID file " + pid_file + " does not hold a process id > 1");
  }
  if (::kill(static_cast<pid_t>(pid), sig) != 0) {
    return make_error(ErrorCode::kIo, "cannot send signal " + std::to_string(sig) + " to process " +
                                          std::to_string(pid) + " (from " + pid_file +
                                          "): " + std::strerror(errno));
  }
  ReloadOutcome out;
  out.ok = true;
  out.exit_code = 0;
  out.took = duration_cast<milliseconds>(steady_clock::now() - t0);
  out.sent_signal = sig;
  out.pid = static_cast<int>(pid);
  return out;
}

}  // namespace herald::agent
