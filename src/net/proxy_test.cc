#include "net/proxy.h"

#include <gtest/gtest.h>

namespace herald::net {
namespace {
TEST(ProxyBuild, Links) { ProxyServer s(1); }
}  // namespace
}  // namespace herald::net
