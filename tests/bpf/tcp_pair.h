// Loopback TCP helpers shared by the bpf tier tests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bpf_fixture.h"

namespace zt::testing {

struct TcpPair {
  int client = -1;
  int server = -1;
  ~TcpPair() {
    if (client >= 0) close(client);
    if (server >= 0) close(server);
  }
};

// A connected loopback pair: client from connect(), server from accept4() (or accept()).
inline TcpPair make_pair(bool ipv6 = false, bool plain_accept = false) {
  TcpPair p;
  const int family = ipv6 ? AF_INET6 : AF_INET;
  int listener = socket(family, SOCK_STREAM, 0);
  sockaddr_storage ss{};
  socklen_t len;
  if (ipv6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *a;
  }
  EXPECT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&ss), len), 0);
  EXPECT_EQ(listen(listener, 4), 0);
  EXPECT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&ss), &len), 0);
  p.client = socket(family, SOCK_STREAM, 0);
  EXPECT_EQ(connect(p.client, reinterpret_cast<sockaddr*>(&ss), len), 0);
  p.server = plain_accept ? static_cast<int>(syscall(SYS_accept, listener, nullptr, nullptr))
                          : accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_GE(p.server, 0);
  close(listener);
  return p;
}

// Reads exactly `size` bytes (TCP may hand them over in several reads); fewer on EOF or error.
inline std::string read_all(int fd, std::size_t size) {
  std::string in(size, '\0');
  std::size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, in.data() + got, size - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  in.resize(got);
  return in;
}

inline const zt_conn_event* find_conn(const std::vector<zt_conn_event>& evs, std::uint32_t kind, int fd) {
  for (const auto& e : evs) {
    if (e.hdr.kind == kind && e.fd == fd && e.hdr.pid == static_cast<std::uint32_t>(getpid())) return &e;
  }
  return nullptr;
}

inline std::string concat(const std::vector<CapturedData>& v) {
  std::string s;
  for (const auto& d : v) s += d.payload;
  return s;
}

}  // namespace zt::testing
