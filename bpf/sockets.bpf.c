// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Socket capture from the BTF syscall tracepoints (tp_btf/sys_enter, tp_btf/sys_exit):
 * accept/accept4/connect/close, the ten data syscalls, and sendfile. The enter program stashes the
 * arguments of sends and connects in task storage (their entry time is the start of what they
 * send); receives are handled at exit alone, from the saved registers (received bytes exist only
 * at exit, so their entry time is not needed). The exit program knows how many bytes moved,
 * resolves the fd to a TCP socket (CO-RE, through the task's fd table), and emits one event per
 * call with a bounded payload prefix, or none or only its size where the agent asked
 * (conn_ctl_map). Other syscalls and untraced processes leave in the first lines.
 *
 * Why not the per-syscall tracepoints (syscalls/sys_enter_read, ...): they run through perf's
 * syscall path, which fills a trace buffer on every hit before any filter runs. Measured here
 * with nothing traced, nginx under wrk kept 71% of its throughput with those and 91% with these
 * (docs/performance.md). These also need no tracefs. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "zerotrace/conn_map.h"
#include "zerotrace/cuda_abi.h"
#include "zerotrace/maps.h"
#include "zerotrace/tls_frame.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115

/* Payload bytes copied per call: a power of two <= ZT_MAX_CAPTURE, set before load. */
const volatile __u32 capture_bytes = 4096;
/* Report executable file mappings (dlopen of a library) of traced processes, so that the agent
 * can probe CUDA libraries loaded after it attached. Set before load when CUDA tracing is on. */
const volatile bool report_exec_mappings = false;
/* The TLS programs are loaded (bpf/tls.bpf.c): data calls look for a TLS call in flight on their
 * thread (tls_frame.h). Set before load. */
const volatile bool tls_enabled = false;

enum arg_shape {
	SHAPE_BUF = 0,  /* (fd, buf, len): read, write, recvfrom, sendto */
	SHAPE_IOV = 1,  /* (fd, iov, iovcnt): readv, writev, and recvmsg/sendmsg via msg_iov */
	SHAPE_MMSG = 2, /* (fd, mmsghdr *, vlen): recvmmsg, sendmmsg */
	SHAPE_SIZE = 3, /* (out_fd, ...): sendfile; bytes come from a file: only their count is sent */
	SHAPE_CTL = 4,  /* accept, accept4, connect, close: no payload */
};

struct call_args {
	__u64 ptr;      /* buf, iovec array, or mmsghdr array */
	__u64 start_ns;
	__u32 cnt;      /* iovcnt or vlen */
	__s32 fd;
	__u8 syscall;   /* enum zt_syscall */
	__u8 shape;     /* enum arg_shape */
	__u8 direction; /* enum zt_direction */
	__u8 active;    /* set at enter, cleared at exit */
	__u8 pad[4];
};

/* The call in flight of each thread. Task-local storage rather than a hash keyed by pid_tgid:
 * no hashing, no insert and delete per call (the slot is reused), and the kernel frees it when
 * the thread exits. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct call_args);
} active_calls_map SEC(".maps");

/* What the agent wants copied of each connection (abi.h, struct zt_conn_ctl). An array indexed by
 * conn_id: the lookup is inlined and costs a few instructions per call, and the agent writes it
 * through mmap without a syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, ZT_CONN_CTL_SLOTS);
	__type(key, __u32);
	__type(value, struct zt_conn_ctl);
} conn_ctl_map SEC(".maps");

/* One data event under construction per CPU: too large for the 512-byte BPF stack. The payload
 * area is twice the maximum capture so that variable-offset copies stay provably in bounds. */
struct data_scratch {
	/* The call being emitted. Kept here rather than on the stack so that the verifier sees
	 * unknown values and checks one path for every syscall, not one per syscall number. */
	struct call_args args;
	struct zt_data_event event;
	__u8 payload[2 * ZT_MAX_CAPTURE];
	struct iovec iov[ZT_MAX_IOV]; /* the caller's iovec array, read in one go; never sent */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct data_scratch);
} data_heap SEC(".maps");

/* Connection ids are unique for the lifetime of the loaded programs. */
__u64 next_conn_id = 0;

/* Stream position below which the agent wants no payload of this direction (0: all of it;
 * ZT_SKIP_ALL: no events at all). */
static __always_inline __u64 skip_until(const struct conn_state *conn, __u8 direction)
{
	__u32 slot = conn->conn_id & (ZT_CONN_CTL_SLOTS - 1);
	struct zt_conn_ctl *ctl = bpf_map_lookup_elem(&conn_ctl_map, &slot);

	if (!ctl)
		return 0;
	/* The agent claims a slot by zeroing its id, writing the positions, then storing the id
	 * (agent/loader/bpf_loader.cpp): an id read the same before and after the position is the
	 * owner of that position. */
	__u64 owner = *(volatile __u64 *)&ctl->conn_id;
	barrier();
	__u64 until = *(volatile __u64 *)&ctl->skip_until[direction & 1];
	barrier();
	if (owner != conn->conn_id || *(volatile __u64 *)&ctl->conn_id != owner)
		return 0;
	return until;
}

/* Returns the struct sock behind `fd` of the current task when it is a TCP socket over IPv4 or
 * IPv6, NULL otherwise (files, pipes, UNIX and UDP sockets). Runs for every data call on an fd
 * that is not a tracked connection (a traced process's file and pipe I/O), so it walks the fd
 * table with direct BTF loads: one helper call (the fd array slot) instead of one per field. */
static __always_inline struct sock *tcp_sock_of_fd(__s32 fd)
{
	struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;
	struct file *slot;

	if (fd < 0 || (unsigned int)fd >= fdt->max_fds)
		return NULL;
	/* fdt->fd is an array of pointers: the verifier gives no type to its elements. */
	if (bpf_probe_read_kernel(&slot, sizeof(slot), &fdt->fd[fd]) || !slot)
		return NULL;
	struct file *file = bpf_core_cast(slot, struct file);
	if ((file->f_inode->i_mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = bpf_core_cast(file->private_data, struct socket);
	struct sock *sk = sock->sk;
	if (!sk)
		return NULL;
	__u16 family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	if (sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP)
		return NULL;
	return sk;
}

static __always_inline void read_tuple(struct sock *sk, struct zt_tuple *t)
{
	__builtin_memset(t, 0, sizeof(*t));
	t->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	t->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	/* Explicit sizes: BPF_CORE_READ_INTO on an array would copy a single element. */
	if (t->family == AF_INET) {
		bpf_core_read(t->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(t->daddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(t->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(t->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

static __always_inline void emit_conn_event(__u32 kind, __u64 pid_tgid, __s32 fd, __u8 sys,
					    const struct conn_state *conn)
{
	struct zt_conn_event ev = {};

	fill_header(&ev.hdr, kind, pid_tgid);
	ev.conn_id = conn->conn_id;
	ev.bytes_sent = conn->position[ZT_DIR_EGRESS];
	ev.bytes_received = conn->position[ZT_DIR_INGRESS];
	ev.fd = fd;
	ev.role = conn->role;
	ev.syscall = sys;
	ev.flags = conn->flags;
	ev.tuple = conn->tuple;
	submit(&ev, sizeof(ev));
}

/* Starts tracking `fd` as a connection of the current process; returns its state or NULL when
 * it is not a TCP socket (or the map is full). */
static __always_inline struct conn_state *track_conn(__u64 pid_tgid, __s32 fd, __u8 role,
						     __u8 flags, __u8 sys)
{
	struct zt_conn_key key = {.tgid = pid_tgid >> 32, .fd = fd};
	struct conn_state fresh = {};
	struct sock *sk = tcp_sock_of_fd(fd);

	if (!sk)
		return NULL;
	fresh.conn_id = __sync_fetch_and_add(&next_conn_id, 1) + 1;
	fresh.proc_start_ns = process_start_ns();
	fresh.role = role;
	fresh.flags = flags;
	read_tuple(sk, &fresh.tuple);
	if (bpf_map_update_elem(&conn_map, &key, &fresh, BPF_ANY)) {
		count(ZT_CNT_CONN_MAP_FULL);
		return NULL;
	}
	emit_conn_event(ZT_EV_CONN_OPEN, pid_tgid, fd, sys, &fresh);
	return bpf_map_lookup_elem(&conn_map, &key);
}

/* The connection behind fd: known, or first seen now on a data call (it predates the agent or
 * came from a path we do not hook, such as a socket inherited across exec). */
static __always_inline struct conn_state *conn_for_data(__u64 pid_tgid, __s32 fd, __u8 sys)
{
	struct zt_conn_key key = {.tgid = pid_tgid >> 32, .fd = fd};
	struct conn_state *conn = lookup_conn(&key);

	if (conn)
		return conn;
	return track_conn(pid_tgid, fd, ZT_ROLE_UNKNOWN, ZT_DATA_F_MIDSTREAM, sys);
}

/* Takes the call's `size` bytes from the stream and starts its event; NULL when no event is to be
 * sent (the agent gave up on the connection), or when the payload is not wanted (the bytes lie
 * below `skip`): then the event is sent at once with its size and position only. */
static __always_inline struct data_scratch *begin_data_event(__u64 pid_tgid,
							    const struct call_args *args,
							    struct conn_state *conn, __u64 size,
							    __u64 skip)
{
	__u64 position = __sync_fetch_and_add(&conn->position[args->direction & 1], size);
	__u32 zero = 0;

	if (skip == ZT_SKIP_ALL) {
		count(ZT_CNT_CONN_DISABLED);
		return NULL;
	}
	struct data_scratch *s = bpf_map_lookup_elem(&data_heap, &zero);
	if (!s)
		return NULL;
	struct zt_data_event *ev = &s->event;
	fill_header(&ev->hdr, ZT_EV_DATA, pid_tgid);
	ev->conn_id = conn->conn_id;
	ev->start_ns = args->start_ns ? args->start_ns : ev->hdr.ts_ns;
	ev->position = position;
	ev->orig_size = size;
	ev->captured = 0;
	ev->fd = args->fd;
	ev->direction = args->direction;
	ev->role = conn->role;
	ev->syscall = args->syscall;
	ev->flags = conn->flags;
	ev->pad = 0;
	ev->tuple = conn->tuple;
	if (position + size <= skip) {
		count(ZT_CNT_PAYLOAD_SKIPPED);
		submit(&s->event, sizeof(s->event));
		return NULL;
	}
	return s;
}

static __always_inline void finish_data_event(struct data_scratch *s, __u64 size)
{
	/* The mask (not a comparison, which the compiler may reorder) keeps the length provably
	 * within the scratch value for the verifier; captured never exceeds ZT_MAX_CAPTURE anyway. */
	__u64 len = s->event.captured & (ZT_MAX_CAPTURE * 2 - 1);

	if (size > s->event.captured)
		count(ZT_CNT_TRUNCATED);
	submit(&s->event, sizeof(s->event) + len);
}

static __always_inline __u32 capture_limit(__u64 size)
{
	__u32 limit = capture_bytes;

	if (limit > ZT_MAX_CAPTURE)
		limit = ZT_MAX_CAPTURE;
	return size < limit ? (__u32)size : limit;
}

static __always_inline void emit_buf(__u64 pid_tgid, const struct call_args *args,
				     struct conn_state *conn, __u64 size, __u64 skip)
{
	struct data_scratch *s = begin_data_event(pid_tgid, args, conn, size, skip);

	if (!s)
		return;
	__u32 want = capture_limit(size) & (ZT_MAX_CAPTURE * 2 - 1);
	if (want > ZT_MAX_CAPTURE)
		want = ZT_MAX_CAPTURE;
	if (want && bpf_probe_read_user(s->payload, want, (const void *)args->ptr) == 0)
		s->event.captured = want;
	else if (want)
		count(ZT_CNT_READ_FAILED);
	finish_data_event(s, size);
}

/* Copies up to the capture limit across an iovec array; `size` is the byte count the syscall
 * returned, so iovecs past it (unfilled receive buffers) are not read. */
static __always_inline void emit_iov(__u64 pid_tgid, const struct call_args *args,
				     struct conn_state *conn, __u64 iov_ptr, __u64 iovcnt,
				     __u64 size, __u64 skip)
{
	struct data_scratch *s = begin_data_event(pid_tgid, args, conn, size, skip);
	__u32 limit = capture_limit(size);
	__u32 off = 0;
	__u64 left = size;

	if (!s)
		return;
	/* User-memory reads are the dearest part of capture (each one ~0.7 us on a PVM guest), so
	 * the iovec array comes over in one read rather than one per element. */
	__u32 nvec = iovcnt < ZT_MAX_IOV ? (__u32)iovcnt : ZT_MAX_IOV;
	__u32 bytes = nvec * sizeof(struct iovec);

	barrier_var(bytes); /* keep the clamp below where the verifier can see it */
	if (bytes > sizeof(s->iov))
		bytes = sizeof(s->iov);
	if (limit && bytes && bpf_probe_read_user(s->iov, bytes, (const void *)iov_ptr)) {
		count(ZT_CNT_READ_FAILED);
		nvec = 0;
	}
	for (int i = 0; i < ZT_MAX_IOV; i++) {
		if (i >= nvec || left == 0 || off >= limit)
			break;
		__u64 n = s->iov[i].iov_len < left ? s->iov[i].iov_len : left;
		left -= n;
		if (n > limit - off)
			n = limit - off;
		off &= ZT_MAX_CAPTURE - 1;
		n &= ZT_MAX_CAPTURE * 2 - 1;
		if (n > ZT_MAX_CAPTURE)
			n = ZT_MAX_CAPTURE;
		if (n && bpf_probe_read_user(&s->payload[off], n, s->iov[i].iov_base)) {
			count(ZT_CNT_READ_FAILED);
			break;
		}
		off += n;
	}
	if (left && off < limit && iovcnt > ZT_MAX_IOV)
		count(ZT_CNT_IOV_LIMIT);
	s->event.captured = off;
	finish_data_event(s, size);
}

/* Numbers of the syscalls hooked, per architecture: the BTF syscall tracepoints see every
 * syscall and the programs pick theirs by number. 32-bit compat syscalls are not captured. */
#if defined(__TARGET_ARCH_x86)
#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_readv 19
#define NR_writev 20
#define NR_sendfile 40
#define NR_connect 42
#define NR_accept 43
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_accept4 288
#define NR_recvmmsg 299
#define NR_sendmmsg 307
#define NR_mmap 9
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define NR_read 63
#define NR_write 64
#define NR_close 57
#define NR_readv 65
#define NR_writev 66
#define NR_sendfile 71
#define NR_connect 203
#define NR_accept 202
#define NR_sendto 206
#define NR_recvfrom 207
#define NR_sendmsg 211
#define NR_recvmsg 212
#define NR_accept4 242
#define NR_recvmmsg 243
#define NR_sendmmsg 269
#define NR_mmap 222
#define SYSCALL_NR(regs) ((regs)->syscallno)
#else
#error "zerotrace: syscall numbers are defined for x86_64 and arm64 only"
#endif

struct hooked_call {
	__u8 sys;   /* enum zt_syscall */
	__u8 shape; /* enum arg_shape */
	__u8 dir;   /* enum zt_direction */
	__u8 msg;   /* the iovecs are behind a msghdr */
};

/* Which of our syscalls `nr` is; false for every other syscall (the common case: kept cheap). */
static __always_inline bool classify(long nr, struct hooked_call *i)
{
	switch (nr) {
	case NR_read: *i = (struct hooked_call){ZT_SYS_READ, SHAPE_BUF, ZT_DIR_INGRESS, 0}; return true;
	case NR_write: *i = (struct hooked_call){ZT_SYS_WRITE, SHAPE_BUF, ZT_DIR_EGRESS, 0}; return true;
	case NR_recvfrom: *i = (struct hooked_call){ZT_SYS_RECVFROM, SHAPE_BUF, ZT_DIR_INGRESS, 0}; return true;
	case NR_sendto: *i = (struct hooked_call){ZT_SYS_SENDTO, SHAPE_BUF, ZT_DIR_EGRESS, 0}; return true;
	case NR_readv: *i = (struct hooked_call){ZT_SYS_READV, SHAPE_IOV, ZT_DIR_INGRESS, 0}; return true;
	case NR_writev: *i = (struct hooked_call){ZT_SYS_WRITEV, SHAPE_IOV, ZT_DIR_EGRESS, 0}; return true;
	case NR_recvmsg: *i = (struct hooked_call){ZT_SYS_RECVMSG, SHAPE_IOV, ZT_DIR_INGRESS, 1}; return true;
	case NR_sendmsg: *i = (struct hooked_call){ZT_SYS_SENDMSG, SHAPE_IOV, ZT_DIR_EGRESS, 1}; return true;
	case NR_recvmmsg: *i = (struct hooked_call){ZT_SYS_RECVMMSG, SHAPE_MMSG, ZT_DIR_INGRESS, 0}; return true;
	case NR_sendmmsg: *i = (struct hooked_call){ZT_SYS_SENDMMSG, SHAPE_MMSG, ZT_DIR_EGRESS, 0}; return true;
	case NR_sendfile: *i = (struct hooked_call){ZT_SYS_SENDFILE, SHAPE_SIZE, ZT_DIR_EGRESS, 0}; return true;
	case NR_accept: *i = (struct hooked_call){ZT_SYS_ACCEPT, SHAPE_CTL, 0, 0}; return true;
	case NR_accept4: *i = (struct hooked_call){ZT_SYS_ACCEPT4, SHAPE_CTL, 0, 0}; return true;
	case NR_connect: *i = (struct hooked_call){ZT_SYS_CONNECT, SHAPE_CTL, 0, 0}; return true;
	case NR_close: *i = (struct hooked_call){ZT_SYS_CLOSE, SHAPE_CTL, 0, 0}; return true;
	default: return false;
	}
}

/* Reads the call's arguments from the user registers saved at syscall entry (they are intact
 * at exit too: a syscall preserves them). False when a msghdr cannot be read. */
static __always_inline bool read_args(struct pt_regs *regs, const struct hooked_call *info,
				      struct call_args *args)
{
	args->fd = (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs);
	args->ptr = PT_REGS_PARM2_CORE_SYSCALL(regs);
	args->cnt = (__u32)PT_REGS_PARM3_CORE_SYSCALL(regs);
	args->syscall = info->sys;
	args->shape = info->shape;
	args->direction = info->dir;
	args->start_ns = 0; /* the event's own time, unless the enter program sets it */
	if (info->msg) {
		/* recvmsg/sendmsg: read the iovec array from the user's msghdr and proceed as an
		 * iovec call. */
		struct user_msghdr msg;

		if (bpf_probe_read_user(&msg, sizeof(msg), (const void *)args->ptr))
			return false;
		args->ptr = (__u64)msg.msg_iov;
		args->cnt = (__u32)msg.msg_iovlen;
	}
	args->active = 1;
	return true;
}

/* Records the call's arguments in the thread's slot, for the exit program. */
static __always_inline struct call_args *stash_args(struct pt_regs *regs,
						    const struct hooked_call *info)
{
	struct call_args *slot = bpf_task_storage_get(&active_calls_map, bpf_get_current_task_btf(), 0,
						      BPF_LOCAL_STORAGE_GET_F_CREATE);
	struct call_args args = {};

	if (!slot || !read_args(regs, info, &args))
		return NULL;
	args.start_ns = bpf_ktime_get_ns();
	*slot = args;
	return slot;
}

/* Receives are all handled at exit: only sends and connects need their entry. */
static __always_inline bool needs_entry(const struct hooked_call *info)
{
	return info->sys == ZT_SYS_CONNECT || (info->dir == ZT_DIR_EGRESS && info->shape != SHAPE_CTL);
}

static __always_inline void on_close(__u64 pid_tgid, __s32 fd)
{
	struct zt_conn_key key = {.tgid = pid_tgid >> 32, .fd = fd};
	struct conn_state *conn = lookup_conn(&key);

	if (!conn)
		return;
	emit_conn_event(ZT_EV_CONN_CLOSE, pid_tgid, fd, ZT_SYS_CLOSE, conn);
	bpf_map_delete_elem(&conn_map, &key);
}

#define PROT_EXEC 0x4

/* mmap(addr, len, prot, flags, fd, off) of a file with PROT_EXEC: a library being loaded. The
 * event only says "look again": the agent rereads the process's mappings a moment later. */
static __always_inline void on_mmap(struct pt_regs *regs)
{
	if (!(PT_REGS_PARM3_CORE_SYSCALL(regs) & PROT_EXEC) || (__s32)PT_REGS_PARM5_CORE_SYSCALL(regs) < 0)
		return;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!is_traced(pid_tgid >> 32))
		return;
	struct zt_event_header hdr;

	fill_header(&hdr, ZT_EV_EXEC_MAPPING, pid_tgid);
	submit(&hdr, sizeof(hdr));
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long nr)
{
	struct hooked_call info;

	if (!classify(nr, &info)) {
		if (report_exec_mappings && nr == NR_mmap)
			on_mmap(regs);
		return 0;
	}
	if (info.sys != ZT_SYS_CLOSE && !needs_entry(&info))
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!is_traced(pid_tgid >> 32))
		return 0;
	if (info.sys == ZT_SYS_CLOSE)
		on_close(pid_tgid, (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs));
	else
		stash_args(regs, &info);
	return 0;
}

/* sendfile moves bytes from a file: only their number is known, which keeps the stream
 * positions right (the parser skips them as uncaptured bytes, e.g. a static file's body). */
static __always_inline void emit_size_only(__u64 pid_tgid, const struct call_args *args,
					   struct conn_state *conn, __u64 size, __u64 skip)
{
	struct data_scratch *s = begin_data_event(pid_tgid, args, conn, size, skip);

	if (s)
		submit(&s->event, sizeof(s->event));
}

struct mmsg_loop {
	__u64 pid_tgid;
	const struct call_args *args;
	struct conn_state *conn;
	__u64 skip;
};

/* One message of a recvmmsg/sendmmsg: its mmsghdr's msg_len says how many bytes moved. A bpf_loop
 * callback, so that the verifier checks the message path once rather than once per message. */
static long emit_one_message(__u64 index, void *data)
{
	struct mmsg_loop *loop = data;
	const struct mmsghdr *vec = (const struct mmsghdr *)loop->args->ptr;
	struct mmsghdr m;

	if (bpf_probe_read_user(&m, sizeof(m), &vec[index])) {
		count(ZT_CNT_READ_FAILED);
		return 1;
	}
	if (m.msg_len)
		emit_iov(loop->pid_tgid, loop->args, loop->conn, (__u64)m.msg_hdr.msg_iov,
			 m.msg_hdr.msg_iovlen, m.msg_len, loop->skip);
	return 0;
}

static __always_inline void emit_mmsg(__u64 pid_tgid, const struct call_args *args,
				      struct conn_state *conn, long messages, __u64 skip)
{
	struct mmsg_loop loop = {.pid_tgid = pid_tgid, .args = args, .conn = conn, .skip = skip};

	bpf_loop(messages < ZT_MAX_MMSG ? messages : ZT_MAX_MMSG, emit_one_message, &loop, 0);
	if (messages > ZT_MAX_MMSG)
		count(ZT_CNT_IOV_LIMIT);
}

/* A socket call inside a TLS call of the same thread: the first socket it uses is where the TLS
 * call's plaintext belongs (tls_frame.h). A second, different socket makes the binding doubtful
 * (counted at the TLS call's return). The connection is marked as carrying TLS, so that its bytes
 * are known to be ciphertext. */
/* The user's R14 at a syscall: the running goroutine (g) in a Go program (register ABI); in other
 * programs a callee-saved register of no meaning, used only on threads that have run Go TLS calls. */
static __always_inline __u64 syscall_goroutine(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, r14);
#else
	return 0;
#endif
}

/* The TLS call the current thread is inside, if any: the thread's frame, or, on a thread that has
 * run Go TLS calls (frame->g set), the call of the goroutine running now. */
static __always_inline struct zt_tls_frame *current_tls_call(__u64 pid_tgid, __u64 g)
{
	struct zt_tls_frame *frame = bpf_task_storage_get(&tls_frames_map, bpf_get_current_task_btf(), 0, 0);

	if (!frame)
		return NULL;
	if (frame->g) {
		struct zt_go_call_key key = {.tgid = pid_tgid >> 32, .g = g};

		if (!g)
			return NULL;
		frame = bpf_map_lookup_elem(&go_tls_calls_map, &key);
		if (!frame)
			return NULL;
	}
	return frame->active ? frame : NULL;
}

static __always_inline void note_tls_call(__u64 pid_tgid, __u64 g, __s32 fd, struct conn_state *conn)
{
	struct zt_tls_frame *frame = current_tls_call(pid_tgid, g);

	if (!frame)
		return;
	if (frame->fd < 0)
		frame->fd = fd;
	else if (frame->fd != fd)
		frame->mismatch = 1;
	if (conn)
		conn->flags |= ZT_DATA_F_TLS;
}

/* A data call that moved `ret` bytes (messages for recvmmsg/sendmmsg). */
static __always_inline void emit_data(__u64 pid_tgid, const struct call_args *args, long ret, __u64 g)
{
	struct conn_state *conn = conn_for_data(pid_tgid, args->fd, args->syscall);

	if (!conn)
		return;
	if (tls_enabled)
		note_tls_call(pid_tgid, g, args->fd, conn);
	__u64 skip = skip_until(conn, args->direction);
	switch (args->shape) {
	case SHAPE_BUF:
		emit_buf(pid_tgid, args, conn, ret, skip);
		break;
	case SHAPE_IOV:
		emit_iov(pid_tgid, args, conn, args->ptr, args->cnt, ret, skip);
		break;
	case SHAPE_MMSG:
		emit_mmsg(pid_tgid, args, conn, ret, skip);
		break;
	default:
		emit_size_only(pid_tgid, args, conn, ret, skip);
		break;
	}
}

/* A receive that moved nothing, inside a TLS call: the socket is the call's only if it is a tracked
 * TCP connection (or a TCP socket first seen now). */
static __always_inline void note_tls_failed_read(__u64 pid_tgid, __u64 g, __s32 fd)
{
	struct zt_tls_frame *frame = current_tls_call(pid_tgid, g);

	if (!frame || frame->fd == fd)
		return;
	struct zt_conn_key key = {.tgid = pid_tgid >> 32, .fd = fd};
	struct conn_state *conn = lookup_conn(&key);
	if (!conn && !tcp_sock_of_fd(fd))
		return;
	note_tls_call(pid_tgid, g, fd, conn);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	struct hooked_call info;
	struct call_args args = {};
	__u32 zero = 0;

	if (!classify(SYSCALL_NR(regs), &info) || info.sys == ZT_SYS_CLOSE)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (info.sys == ZT_SYS_ACCEPT || info.sys == ZT_SYS_ACCEPT4) {
		if (ret >= 0 && is_traced(pid_tgid >> 32))
			track_conn(pid_tgid, (__s32)ret, ZT_ROLE_SERVER, 0, info.sys);
		return 0;
	}

	if (!needs_entry(&info)) {
		/* A receive: its bytes exist from its exit, which is now. */
		if (ret <= 0) {
			/* A TLS read that found no record yet (EAGAIN) still names its socket. */
			if (tls_enabled && is_traced(pid_tgid >> 32))
				note_tls_failed_read(pid_tgid, syscall_goroutine(regs),
						     (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs));
			return 0;
		}
		if (!is_traced(pid_tgid >> 32) || !read_args(regs, &info, &args))
			return 0;
	} else {
		struct call_args *slot = bpf_task_storage_get(&active_calls_map, bpf_get_current_task_btf(), 0, 0);

		if (slot && slot->active) {
			args = *slot;
			slot->active = 0;
		} else {
			/* A thread already blocked in a send when its process became traced never ran
			 * the enter program. Its arguments are still in the saved registers: recover them
			 * rather than lose the call. Its entry time is unknown: the exit time stands in. */
			if (ret <= 0 || !is_traced(pid_tgid >> 32) || !read_args(regs, &info, &args))
				return 0;
			count(ZT_CNT_ARGS_RECOVERED);
		}
		if (info.sys == ZT_SYS_CONNECT) {
			/* Non-blocking connects return -EINPROGRESS with the local port already bound. */
			if (ret == 0 || ret == -EINPROGRESS)
				track_conn(pid_tgid, args.fd, ZT_ROLE_CLIENT, 0, ZT_SYS_CONNECT);
			return 0;
		}
	}
	if (ret <= 0)
		return 0;
	struct data_scratch *s = bpf_map_lookup_elem(&data_heap, &zero);
	if (!s)
		return 0;
	s->args = args;
	emit_data(pid_tgid, &s->args, ret, tls_enabled ? syscall_goroutine(regs) : 0);
	return 0;
}
