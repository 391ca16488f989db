/* Structures shared by the BPF programs and the agent.
 *
 * Fixed-width fields and fixed-size arrays only, laid out without implicit padding, so that the
 * kernel and userspace agree byte for byte. agent/pipeline/events.h static_asserts every size.
 * This header is included from BPF C (vmlinux.h types) and from C++ (<cstdint>), hence the
 * typedefs below.
 */
#ifndef ZEROTRACE_ABI_H
#define ZEROTRACE_ABI_H

#ifdef __cplusplus
#include <cstdint>
typedef std::uint8_t zt_u8;
typedef std::uint16_t zt_u16;
typedef std::uint32_t zt_u32;
typedef std::int32_t zt_s32;
typedef std::uint64_t zt_u64;
#else
typedef __u8 zt_u8;
typedef __u16 zt_u16;
typedef __u32 zt_u32;
typedef __s32 zt_s32;
typedef __u64 zt_u64;
#endif

/* Upper bound of the payload prefix copied per event; the effective bound is set at load time
 * (rodata `capture_bytes`). The BPF side copies into a per-CPU scratch buffer of twice this size
 * (the verifier needs the slack for variable offsets), and per-CPU values are limited to 32 KiB. */
#define ZT_MAX_CAPTURE 8192
/* Bounded loops: iovecs copied per call and messages handled per recvmmsg/sendmmsg call. */
#define ZT_MAX_IOV 32
#define ZT_MAX_MMSG 8

enum zt_event_kind {
	ZT_EV_DATA = 1,       /* struct zt_data_event + payload */
	ZT_EV_CONN_OPEN = 2,  /* struct zt_conn_event: accept/connect seen, or socket first seen */
	ZT_EV_CONN_CLOSE = 3, /* struct zt_conn_event: close() of a tracked socket */
	ZT_EV_PROC_EXEC = 4,  /* struct zt_proc_event */
	ZT_EV_PROC_FORK = 5,  /* struct zt_proc_event (new process, not a new thread) */
	ZT_EV_PROC_EXIT = 6,  /* struct zt_proc_event (thread-group leader exited) */
	ZT_EV_THREAD_NEW = 7, /* struct zt_proc_event: a traced process created a thread */
};

enum zt_direction {
	ZT_DIR_EGRESS = 0,  /* bytes the traced process sent */
	ZT_DIR_INGRESS = 1, /* bytes the traced process received */
};

enum zt_role {
	ZT_ROLE_UNKNOWN = 0, /* socket opened before the agent attached */
	ZT_ROLE_CLIENT = 1,  /* the traced process called connect() */
	ZT_ROLE_SERVER = 2,  /* the traced process called accept() */
};

enum zt_syscall {
	ZT_SYS_READ = 1,
	ZT_SYS_WRITE,
	ZT_SYS_READV,
	ZT_SYS_WRITEV,
	ZT_SYS_RECVFROM,
	ZT_SYS_SENDTO,
	ZT_SYS_RECVMSG,
	ZT_SYS_SENDMSG,
	ZT_SYS_RECVMMSG,
	ZT_SYS_SENDMMSG,
	ZT_SYS_ACCEPT,
	ZT_SYS_ACCEPT4,
	ZT_SYS_CONNECT,
	ZT_SYS_CLOSE,
	ZT_SYS_SENDFILE, /* payload never captured: the bytes come from a file */
	ZT_SYS_TLS_READ,  /* plaintext a TLS read returned (SSL_read and kin; ZT_DATA_F_TLS_PLAINTEXT) */
	ZT_SYS_TLS_WRITE, /* plaintext a TLS write took */
};

/* zt_data_event.flags */
#define ZT_DATA_F_MIDSTREAM 0x1 /* the connection was first seen mid-stream (predates attach) */
/* The socket carries TLS: a TLS call of the process used it (its bytes are ciphertext). */
#define ZT_DATA_F_TLS 0x2
/* The event is the plaintext of a TLS call on the connection (ZT_SYS_TLS_READ/WRITE), with the
 * positions of the connection's plaintext stream, not of its socket bytes. */
#define ZT_DATA_F_TLS_PLAINTEXT 0x4

/* Addresses in network byte order; IPv4 in the first 4 bytes of the 16. Ports in host order. */
struct zt_tuple {
	zt_u8 saddr[16]; /* local address */
	zt_u8 daddr[16]; /* remote address */
	zt_u16 sport;    /* local port */
	zt_u16 dport;    /* remote port */
	zt_u16 family;   /* AF_INET (2) or AF_INET6 (10) */
	zt_u16 pad;
};

/* Common prefix of every record in the ring buffer. */
struct zt_event_header {
	zt_u32 kind; /* enum zt_event_kind */
	zt_u32 pid;  /* tgid */
	zt_u32 tid;
	zt_u32 pad;
	zt_u64 ts_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) when the event completed */
};

struct zt_data_event {
	struct zt_event_header hdr;
	zt_u64 conn_id;    /* unique per connection for the agent's lifetime; never reused */
	zt_u64 start_ns;   /* syscall entry, CLOCK_MONOTONIC */
	zt_u64 position;   /* stream offset of the first byte, per direction, from first sight */
	zt_u64 orig_size;  /* bytes the syscall transferred */
	zt_u32 captured;   /* payload bytes following this struct (<= orig_size, <= capture_bytes) */
	zt_s32 fd;
	zt_u8 direction;   /* enum zt_direction */
	zt_u8 role;        /* enum zt_role */
	zt_u8 syscall;     /* enum zt_syscall */
	zt_u8 flags;       /* ZT_DATA_F_* */
	zt_u32 pad;
	struct zt_tuple tuple;
	/* zt_u8 payload[captured] follows */
};

struct zt_conn_event {
	struct zt_event_header hdr;
	zt_u64 conn_id;
	zt_u64 bytes_sent;     /* stream positions at the time of the event */
	zt_u64 bytes_received;
	zt_s32 fd;
	zt_u8 role;
	zt_u8 syscall; /* what revealed or ended it */
	zt_u8 flags;   /* ZT_DATA_F_MIDSTREAM when first seen on a data call */
	zt_u8 pad;
	struct zt_tuple tuple;
};

struct zt_proc_event {
	struct zt_event_header hdr;
	zt_u32 ppid;       /* parent tgid (fork, new thread), 0 otherwise */
	zt_s32 exit_code;
	zt_u32 parent_tid; /* thread that forked or created the thread (fork, new thread), 0 otherwise */
	zt_u32 pad;
	char comm[16];
};

/* Key of conn_map (bpf/sockets.bpf.c): one socket of one process. */
struct zt_conn_key {
	zt_u32 tgid;
	zt_s32 fd;
};

/* Kernel control of capture, written by the agent (agent/loader/bpf_loader.cpp) and read by the
 * data path: conn_ctl_map is an mmap-able array, slot `conn_id & (ZT_CONN_CTL_SLOTS - 1)`. A slot
 * speaks only for the connection whose id it holds, so a stale or reused slot is ignored, never
 * applied to another connection; two live connections whose ids collide in a slot cost capture
 * (the older one loses its control), never correctness. */
#define ZT_CONN_CTL_SLOTS 65536
/* skip_until of a connection given up on: no data events at all (positions still advance, and
 * the close event carries the byte counts). */
#define ZT_SKIP_ALL (~(zt_u64)0)
struct zt_conn_ctl {
	zt_u64 conn_id;
	/* Per direction: a syscall whose bytes all lie below this stream position is reported with
	 * its size and position but no payload (the agent skips them by count). */
	zt_u64 skip_until[2];
};

/* Value of traced_pids_map. */
#define ZT_TRACE_F_FOLLOW_CHILDREN 0x1 /* forked children are traced too */
struct zt_traced_pid {
	zt_u32 flags;
	zt_u32 pad;
};

/* Indices of the per-CPU counters in counters_map. */
enum zt_counter {
	ZT_CNT_EVENTS = 0,         /* records submitted */
	ZT_CNT_DROPPED_RINGBUF,    /* ring buffer full: record lost */
	ZT_CNT_TRUNCATED,          /* payload longer than capture_bytes: prefix sent */
	ZT_CNT_CONN_MAP_FULL,      /* connection could not be tracked */
	ZT_CNT_IOV_LIMIT,          /* more iovecs/messages than the bounded loops handle */
	ZT_CNT_READ_FAILED,        /* bpf_probe_read_user of the payload failed */
	ZT_CNT_ARGS_RECOVERED,     /* send entered before tracing began: arguments read from saved registers */
	ZT_CNT_PAYLOAD_SKIPPED,    /* data event sent without payload: the agent asked to skip those bytes */
	ZT_CNT_CONN_DISABLED,      /* data event not sent: the agent gave up on the connection */
	ZT_CNT_TLS_BOUND_SYSCALL,  /* TLS call tied to its socket by a syscall the thread made inside it */
	ZT_CNT_TLS_BOUND_CACHE,    /* TLS call made no socket syscall: tied by the SSL object's last socket */
	ZT_CNT_TLS_UNBOUND,        /* TLS call with plaintext but no known socket (memory BIO): not sent */
	ZT_CNT_TLS_NO_CONN,        /* TLS call's socket is not a tracked TCP connection: not sent */
	ZT_CNT_TLS_MISMATCH,       /* two different sockets inside one TLS call: not sent */
	ZT_CNT_TLS_NESTED,         /* TLS call entered while another was in flight on the thread */
	ZT_CNT_NR,
};

#endif /* ZEROTRACE_ABI_H */
