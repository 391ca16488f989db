/* The TLS probe family (bpf/tls.bpf.c, agent/tls/): what the attach cookie of each probe site says,
 * and the per-thread TLS call frame the socket programs (bpf/sockets.bpf.c) read to tie a TLS
 * call's plaintext to the socket the same thread uses inside the call.
 *
 * Calling conventions (x86-64 SysV and arm64 AAPCS: the first five integer arguments in registers):
 *   ZT_TLS_READ            int SSL_read(SSL *s, void *buf, int num)                 > 0: bytes read
 *   ZT_TLS_READ_EX         int SSL_read_ex(SSL *s, void *buf, size_t num, size_t *readbytes)
 *   ZT_TLS_INTERNAL_READ   int ssl_read_internal(SSL *s, void *buf, size_t num, size_t *readbytes)
 *   ZT_TLS_WRITE           int SSL_write(SSL *s, const void *buf, int num)          > 0: bytes written
 *   ZT_TLS_WRITE_EX        int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written)
 *   ZT_TLS_INTERNAL_WRITE  int ssl_write_internal(SSL *s, const void *buf, size_t num, size_t *written)
 *   ZT_TLS_WRITE_EX2       int SSL_write_ex2(SSL *s, const void *buf, size_t num, uint64_t flags,
 *                                            size_t *written)                          (OpenSSL 3.3+)
 *   ZT_TLS_INTERNAL_WRITE_FLAGS  ssl_write_internal of 3.3+: the same arguments as SSL_write_ex2
 *   ZT_TLS_SET_FD          int SSL_set_fd(SSL *s, int fd)                            entry only
 * The _ex forms and the internal functions return 1 on success with the count behind the pointer.
 *
 * Go crypto/tls (x86-64, Go 1.17+ register ABI "ABIInternal"; R14 holds the running goroutine, g):
 *   ZT_TLS_GO_READ         entry of crypto/tls.(*Conn).Read(b []byte) (n int, err error):
 *                          AX = *Conn, BX = b's data, CX = len(b)
 *   ZT_TLS_GO_WRITE        entry of crypto/tls.(*Conn).Write(b []byte) (n int, err error): the same;
 *                          Write sends all of b or fails, so its plaintext is taken at entry
 *   ZT_TLS_GO_READ_RET     a `ret` instruction of Read: AX = n (never a uretprobe on Go: goroutine
 *                          stacks move, and the runtime reads them)
 * The attach cookie holds the call in its low 8 bits; for Go entries in a non-PIE executable, the
 * bits above (ZT_TLS_COOKIE_ITAB_SHIFT) hold the address of go:itab.*net.TCPConn,net.Conn: when
 * the Conn's net.Conn (its first field) has that itab, the socket is read from it:
 * *net.TCPConn -> *netFD (its first word) -> poll.FD.Sysfd (+16, after the 16-byte fdMutex),
 * offsets unchanged since Go 1.9.
 * A goroutine can move between threads inside a call (it parks on the netpoller and resumes on
 * another thread): Go calls are kept per goroutine (go_tls_calls_map, tls_frame.h).
 */
#ifndef ZEROTRACE_TLS_ABI_H
#define ZEROTRACE_TLS_ABI_H

#include "zerotrace/abi.h"

enum zt_tls_call {
	ZT_TLS_READ = 1,
	ZT_TLS_READ_EX = 2,
	ZT_TLS_INTERNAL_READ = 3,
	ZT_TLS_WRITE = 4,
	ZT_TLS_WRITE_EX = 5,
	ZT_TLS_INTERNAL_WRITE = 6,
	ZT_TLS_WRITE_EX2 = 7,
	ZT_TLS_INTERNAL_WRITE_FLAGS = 8,
	ZT_TLS_SET_FD = 9,
	ZT_TLS_GO_READ = 10,
	ZT_TLS_GO_WRITE = 11,
	ZT_TLS_GO_READ_RET = 12,
};

#define ZT_TLS_COOKIE_ITAB_SHIFT 8

/* The plaintext of a TLS call that could not be tied to a socket in the kernel (no socket syscall
 * inside the call and none known for its SSL object: memory BIOs, as node, Python's asyncio and
 * gRPC C++ use). The agent ties the SSL object to a socket by matching the plaintext's length
 * with the TLS records on the process's sockets, then writes ssl_fds_map so that later calls are
 * tied in the kernel (agent/tls/tls_binder.h). */
#define ZT_EV_TLS_UNBOUND 20
struct zt_tls_unbound_event {
	struct zt_event_header hdr; /* ts_ns = the call's return */
	zt_u64 ssl;
	zt_u64 start_ns;  /* the call's entry */
	zt_u64 orig_size; /* plaintext bytes the call moved */
	zt_u32 captured;  /* payload bytes following this struct */
	zt_u8 direction;  /* enum zt_direction */
	zt_u8 call;       /* enum zt_tls_call */
	zt_u16 pad;
	/* zt_u8 payload[captured] follows */
};

/* Value of ssl_fds_map (bpf/tls.bpf.c), key (tgid, SSL object): the socket an SSL object was last
 * tied to. proc_start_ns 0: written by the agent, valid for whichever process has the tgid (the
 * agent forgets a process's entries when it exits). */
struct zt_ssl_key {
	zt_u32 tgid;
	zt_u32 pad;
	zt_u64 ssl;
};
struct zt_ssl_fd {
	zt_s32 fd;
	zt_u32 pad;
	zt_u64 proc_start_ns;
};

#endif /* ZEROTRACE_TLS_ABI_H */
