#include "agent/reload.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>

namespace herald::agent {
namespace {

using namespace std::chrono_literals;

TEST(Reload, ExitCodeIsReported) {
  auto ok = run_reload("true", 5s);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok->ok);
  EXPECT_EQ(ok->exit_code, 0);
  auto bad = run_reload("exit 3", 5s);
  ASSERT_TRUE(bad);
  EXPECT_FALSE(bad->ok);
  EXPECT_EQ(bad->exit_code, 3);
  EXPECT_EQ(bad->describe().substr(0, 6), "exit 3");
}

TEST(Reload, AHangingCommandIsKilledWithItsGroup) {
  // The shell's child (sleep) must die too: it is in the same process group.
  const std::string marker = "/tmp/herald-reload-test-" + std::to_string(::getpid());
  auto r = run_reload("sleep 30 & echo $! > " + marker + "; wait", 300ms);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->timed_out);
  EXPECT_FALSE(r->ok);
  EXPECT_LT(r->took, 5s);
  FILE* f = std::fopen(marker.c_str(), "r");
  ASSERT_NE(f, nullptr);
  int pid = 0;
  ASSERT_EQ(std::fscanf(f, "%d", &pid), 1);
  std::fclose(f);
  std::remove(marker.c_str());
  // Gone, or a zombie waiting for its new parent to reap it.
  bool alive = true;
  for (int i = 0; i < 100 && alive; ++i) {
    FILE* st = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
    char state = 'X';
    if (st) {
      if (std::fscanf(st, "%*d %*s %c", &state) != 1) state = 'X';
      std::fclose(st);
    }
    alive = st && state != 'Z' && state != 'X';
    if (alive) usleep(20000);
  }
  EXPECT_FALSE(alive) << "the command's child survived the timeout";
}

TEST(Reload, SignalMaskIsNotInherited) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  ASSERT_EQ(::sigprocmask(SIG_BLOCK, &set, &old), 0);
  // A shell that blocked TERM would hang until the timeout.
  auto r = run_reload("kill -TERM $$; sleep 5", 3s);
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->signal, SIGTERM);
}

}  // namespace
}  // namespace herald::agent
