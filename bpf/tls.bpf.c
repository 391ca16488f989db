// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* TLS plaintext from uprobes on OpenSSL-compatible libraries (libssl.so.3, .so.1.1, OpenSSL linked
 * into an executable such as node). The agent chooses the probe sites per library file
 * (agent/tls/tls_sites.cpp: the internal read/write functions where the exported ones start with a
 * dearer instruction) and attaches these programs per traced process; the attach cookie says which
 * function and calling convention a site has (enum zt_tls_call, tls_abi.h).
 *
 * Entry: the call's SSL object, buffer and count pointer go into the thread's TLS frame
 * (tls_frame.h). While the call runs, the socket programs note the first TCP socket the thread
 * reads or writes (the nested syscall). Return: the plaintext the call moved is sent as a data
 * event of that socket's connection, flagged ZT_DATA_F_TLS_PLAINTEXT and positioned in the
 * connection's plaintext stream. A call that made no socket syscall (a record already buffered)
 * uses the socket this SSL object was last seen on (ssl_fds_map, fed by nested syscalls and by
 * SSL_set_fd, or the agent once it has bound the SSL object by record lengths). A call with no
 * socket at all (memory BIOs: node, asyncio, gRPC C++) is sent as ZT_EV_TLS_UNBOUND with its SSL
 * object, for the agent to bind: nothing here guesses "the last socket of this thread".
 *
 * Reads are timed at their return (the plaintext exists from then); writes from their entry. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "zerotrace/conn_map.h"
#include "zerotrace/maps.h"
#include "zerotrace/tls_abi.h"
#include "zerotrace/tls_frame.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Payload bytes copied per call: a power of two <= ZT_MAX_CAPTURE, set before load. */
const volatile __u32 capture_bytes = 4096;

/* The socket each SSL object was last tied to. LRU: SSL objects are freed without a probe. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct zt_ssl_key);
	__type(value, struct zt_ssl_fd);
} ssl_fds_map SEC(".maps");

struct tls_scratch {
	struct zt_data_event event;
	__u8 payload[2 * ZT_MAX_CAPTURE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tls_scratch);
} tls_heap SEC(".maps");

struct tls_unbound_scratch {
	struct zt_tls_unbound_event event;
	__u8 payload[2 * ZT_MAX_CAPTURE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tls_unbound_scratch);
} tls_unbound_heap SEC(".maps");

static __always_inline bool is_read(__u8 call)
{
	return call == ZT_TLS_READ || call == ZT_TLS_READ_EX || call == ZT_TLS_INTERNAL_READ || call == ZT_TLS_GO_READ;
}

static __always_inline __u32 plaintext_prefix(__u64 size)
{
	__u32 limit = capture_bytes < ZT_MAX_CAPTURE ? capture_bytes : ZT_MAX_CAPTURE;
	__u32 want = size < limit ? (__u32)size : limit;

	want &= ZT_MAX_CAPTURE * 2 - 1;
	return want > ZT_MAX_CAPTURE ? ZT_MAX_CAPTURE : want;
}

/* A call with plaintext and no socket: the agent binds its SSL object by record lengths. */
static __always_inline void emit_unbound(__u64 pid_tgid, const struct zt_tls_frame *frame, __u64 size)
{
	__u32 zero = 0;
	struct tls_unbound_scratch *s = bpf_map_lookup_elem(&tls_unbound_heap, &zero);

	if (!s)
		return;
	struct zt_tls_unbound_event *ev = &s->event;
	fill_header(&ev->hdr, ZT_EV_TLS_UNBOUND, pid_tgid);
	ev->ssl = frame->ssl;
	ev->start_ns = frame->start_ns;
	ev->orig_size = size;
	ev->captured = 0;
	ev->direction = is_read(frame->call) ? ZT_DIR_INGRESS : ZT_DIR_EGRESS;
	ev->call = frame->call;
	ev->pad = 0;
	__u32 want = plaintext_prefix(size);
	if (want && bpf_probe_read_user(s->payload, want, (const void *)frame->buf) == 0)
		ev->captured = want;
	else if (want)
		count(ZT_CNT_READ_FAILED);
	submit(s, sizeof(s->event) + (ev->captured & (ZT_MAX_CAPTURE * 2 - 1)));
}

static __always_inline void remember_fd(__u32 tgid, __u64 ssl, __s32 fd)
{
	struct zt_ssl_key key = {.tgid = tgid, .ssl = ssl};
	struct zt_ssl_fd value = {.fd = fd, .proc_start_ns = process_start_ns()};
	struct zt_ssl_fd *known = bpf_map_lookup_elem(&ssl_fds_map, &key);

	if (known && known->fd == fd && known->proc_start_ns == value.proc_start_ns)
		return;
	bpf_map_update_elem(&ssl_fds_map, &key, &value, BPF_ANY);
}

static __always_inline __s32 cached_fd(__u32 tgid, __u64 ssl)
{
	struct zt_ssl_key key = {.tgid = tgid, .ssl = ssl};
	struct zt_ssl_fd *known = bpf_map_lookup_elem(&ssl_fds_map, &key);

	/* 0: the agent's binding (by record lengths), for the process that has the tgid now. */
	if (!known || (known->proc_start_ns && known->proc_start_ns != process_start_ns()))
		return -1;
	return known->fd;
}

static __always_inline int on_tls_enter(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u8 call = (__u8)bpf_get_attach_cookie(ctx);

	if (!is_traced(pid_tgid >> 32))
		return 0;
	if (call == ZT_TLS_SET_FD) {
		__s32 fd = (__s32)PT_REGS_PARM2(ctx);
		if (fd >= 0)
			remember_fd(pid_tgid >> 32, PT_REGS_PARM1(ctx), fd);
		return 0;
	}
	struct zt_tls_frame *frame = bpf_task_storage_get(&tls_frames_map, bpf_get_current_task_btf(), 0,
							  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!frame)
		return 0;
	if (frame->active)
		count(ZT_CNT_TLS_NESTED);
	/* Both candidates read before choosing: the verifier rejects a context load at an offset
	 * the compiler would otherwise pick by the switch. */
	__u64 arg4 = PT_REGS_PARM4(ctx);
	__u64 arg5 = PT_REGS_PARM5(ctx);

	barrier_var(arg4);
	barrier_var(arg5);
	frame->ssl = PT_REGS_PARM1(ctx);
	frame->buf = PT_REGS_PARM2(ctx);
	switch (call) {
	case ZT_TLS_READ_EX:
	case ZT_TLS_INTERNAL_READ:
	case ZT_TLS_WRITE_EX:
	case ZT_TLS_INTERNAL_WRITE:
		frame->lenptr = arg4;
		break;
	case ZT_TLS_WRITE_EX2:
	case ZT_TLS_INTERNAL_WRITE_FLAGS:
		frame->lenptr = arg5;
		break;
	default:
		frame->lenptr = 0;
		break;
	}
	frame->start_ns = bpf_ktime_get_ns();
	frame->fd = -1;
	frame->call = call;
	frame->mismatch = 0;
	frame->active = 1;
	return 0;
}

/* Bytes the returning call moved: its return value for SSL_read/SSL_write, the count behind the
 * pointer for the forms that return 1 on success. */
static __always_inline __u64 moved_bytes(struct pt_regs *ctx, const struct zt_tls_frame *frame)
{
	/* Every probed function returns int: -1 is 0xffffffff in the register, not a large count. */
	int ret = (int)PT_REGS_RC(ctx);
	__u64 n = 0;

	if (!frame->lenptr)
		return ret > 0 ? (__u64)ret : 0;
	if (ret != 1)
		return 0;
	if (bpf_probe_read_user(&n, sizeof(n), (const void *)frame->lenptr)) {
		count(ZT_CNT_READ_FAILED);
		return 0;
	}
	return n;
}

/* The plaintext of a finished call that moved `size` bytes: tied to its socket (the nested
 * syscall, else the socket its SSL object was last seen on) and sent as a data event of that
 * connection, or sent unbound for the agent to tie. */
static __always_inline void emit_plaintext(__u64 pid_tgid, const struct zt_tls_frame *frame, __u64 size)
{
	__u32 tgid = pid_tgid >> 32;
	__u32 zero = 0;
	__s32 fd = frame->fd;

	if (frame->mismatch) {
		count(ZT_CNT_TLS_MISMATCH);
		return;
	}
	if (fd >= 0) {
		count(ZT_CNT_TLS_BOUND_SYSCALL);
		remember_fd(tgid, frame->ssl, fd);
	} else {
		fd = cached_fd(tgid, frame->ssl);
		if (fd < 0) {
			count(ZT_CNT_TLS_UNBOUND);
			emit_unbound(pid_tgid, frame, size);
			return;
		}
		count(ZT_CNT_TLS_BOUND_CACHE);
	}

	struct zt_conn_key key = {.tgid = tgid, .fd = fd};
	struct conn_state *conn = lookup_conn(&key);
	if (!conn) {
		count(ZT_CNT_TLS_NO_CONN);
		return;
	}
	struct tls_scratch *s = bpf_map_lookup_elem(&tls_heap, &zero);
	if (!s)
		return;
	bool read = is_read(frame->call);
	__u8 direction = read ? ZT_DIR_INGRESS : ZT_DIR_EGRESS;
	struct zt_data_event *ev = &s->event;

	fill_header(&ev->hdr, ZT_EV_DATA, pid_tgid);
	ev->conn_id = conn->conn_id;
	ev->start_ns = read ? ev->hdr.ts_ns : frame->start_ns;
	ev->position = __sync_fetch_and_add(&conn->tls_position[direction], size);
	ev->orig_size = size;
	ev->captured = 0;
	ev->fd = fd;
	ev->direction = direction;
	ev->role = conn->role;
	ev->syscall = read ? ZT_SYS_TLS_READ : ZT_SYS_TLS_WRITE;
	ev->flags = (conn->flags & ZT_DATA_F_MIDSTREAM) | ZT_DATA_F_TLS | ZT_DATA_F_TLS_PLAINTEXT;
	ev->pad = 0;
	ev->tuple = conn->tuple;

	__u32 want = plaintext_prefix(size);
	if (want && bpf_probe_read_user(s->payload, want, (const void *)frame->buf) == 0)
		ev->captured = want;
	else if (want)
		count(ZT_CNT_READ_FAILED);
	if (size > ev->captured)
		count(ZT_CNT_TRUNCATED);
	submit(s, sizeof(s->event) + (ev->captured & (ZT_MAX_CAPTURE * 2 - 1)));
}

static __always_inline int on_tls_exit(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct zt_tls_frame *frame = bpf_task_storage_get(&tls_frames_map, bpf_get_current_task_btf(), 0, 0);

	if (!frame || !frame->active)
		return 0;
	frame->active = 0;
	__u64 size = moved_bytes(ctx, frame);
	if (size)
		emit_plaintext(pid_tgid, frame, size);
	return 0;
}

/* The socket under a Go *tls.Conn when its net.Conn is a *net.TCPConn (`itab`, tls_abi.h), cached
 * as the Conn's socket: reads served from Go's buffer and calls whose goroutine moved make no
 * syscall to tie them. */
static __always_inline void go_conn_socket(__u32 tgid, __u64 tls_conn, __u64 itab)
{
	__u64 iface[2];
	__u64 net_fd;
	__s64 sysfd;

	if (!itab || bpf_probe_read_user(iface, sizeof(iface), (const void *)tls_conn) || iface[0] != itab)
		return;
	if (bpf_probe_read_user(&net_fd, sizeof(net_fd), (const void *)iface[1]) ||
	    bpf_probe_read_user(&sysfd, sizeof(sysfd), (const void *)(net_fd + 16)))
		return;
	if (sysfd >= 0 && sysfd < (1 << 24))
		remember_fd(tgid, tls_conn, (__s32)sysfd);
}

/* Go crypto/tls (tls_abi.h): calls kept per goroutine, the thread's frame only marks the thread
 * (frame->g) so that its socket syscalls look the running goroutine's call up. x86-64 only. */
static __always_inline int on_go_tls(struct pt_regs *ctx)
{
#if defined(__TARGET_ARCH_x86)
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u8 call = (__u8)cookie;

	if (!is_traced(pid_tgid >> 32))
		return 0;
	struct zt_go_call_key key = {.tgid = pid_tgid >> 32, .g = ctx->r14};

	if (!key.g)
		return 0;
	if (call == ZT_TLS_GO_WRITE) {
		/* Write sends all of b or fails: the plaintext is known at entry, and sent from there, so
		 * that it comes before the response another goroutine (net/http's readLoop) may read
		 * before this one returns. Its socket: the Conn's, read just now, or cached. */
		struct zt_tls_frame frame = {
			.ssl = ctx->ax,
			.buf = ctx->bx,
			.start_ns = bpf_ktime_get_ns(),
			.fd = -1,
			.call = call,
			.g = key.g,
		};
		__u64 size = ctx->cx;

		go_conn_socket(key.tgid, frame.ssl, cookie >> ZT_TLS_COOKIE_ITAB_SHIFT);
		if (size)
			emit_plaintext(pid_tgid, &frame, size);
		return 0;
	}
	if (call == ZT_TLS_GO_READ) {
		struct zt_tls_frame *thread = bpf_task_storage_get(&tls_frames_map, bpf_get_current_task_btf(), 0,
								   BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!thread)
			return 0;
		thread->g = key.g;
		thread->active = 0;
		struct zt_tls_frame frame = {
			.ssl = ctx->ax,
			.buf = ctx->bx,
			.start_ns = bpf_ktime_get_ns(),
			.fd = -1,
			.call = call,
			.active = 1,
			.g = key.g,
		};
		bpf_map_update_elem(&go_tls_calls_map, &key, &frame, BPF_ANY);
		go_conn_socket(key.tgid, frame.ssl, cookie >> ZT_TLS_COOKIE_ITAB_SHIFT);
		return 0;
	}
	/* A `ret` of Read: AX holds n. */
	struct zt_tls_frame *frame = bpf_map_lookup_elem(&go_tls_calls_map, &key);
	if (call != ZT_TLS_GO_READ_RET || !frame || !frame->active)
		return 0;
	struct zt_tls_frame done = *frame;
	bpf_map_delete_elem(&go_tls_calls_map, &key);
	long n = (long)ctx->ax;
	if (n > 0)
		emit_plaintext(pid_tgid, &done, (__u64)n);
#endif
	return 0;
}

/* Each program in two builds, one per link kind (the loader loads one set, agent/loader/
 * bpf_loader.cpp): `p` for a link per function, `p_multi` for one uprobe_multi link per file. */
SEC("uprobe")
int tls_enter(struct pt_regs *ctx) { return on_tls_enter(ctx); }
SEC("uretprobe")
int tls_exit(struct pt_regs *ctx) { return on_tls_exit(ctx); }

SEC("uprobe.multi")
int tls_enter_multi(struct pt_regs *ctx) { return on_tls_enter(ctx); }
SEC("uretprobe.multi")
int tls_exit_multi(struct pt_regs *ctx) { return on_tls_exit(ctx); }

SEC("uprobe")
int go_tls(struct pt_regs *ctx) { return on_go_tls(ctx); }
SEC("uprobe.multi")
int go_tls_multi(struct pt_regs *ctx) { return on_go_tls(ctx); }
