/* The TLS call in flight on each thread (bpf/tls.bpf.c sets it at the entry of SSL_read/SSL_write
 * and their kin, and takes it at their return). The socket programs (bpf/sockets.bpf.c) read it
 * on every data syscall of a traced thread: a socket read or written while the thread is inside a
 * TLS call is the connection that call's plaintext belongs to (the "nested syscall"). Syscall
 * tracepoints run in the calling task, so this cannot bind a call to another thread's socket.
 * The loader creates the maps in the sockets object and shares them with the TLS object. */
#ifndef ZEROTRACE_TLS_FRAME_H
#define ZEROTRACE_TLS_FRAME_H

#include "zerotrace/abi.h"

struct zt_tls_frame {
	__u64 ssl;      /* the SSL object */
	__u64 buf;      /* the caller's buffer */
	__u64 lenptr;   /* where the _ex and internal forms write the count; 0 for SSL_read/SSL_write */
	__u64 start_ns; /* entry */
	__s32 fd;       /* first TCP socket the thread used inside the call; -1: none yet */
	__u8 call;      /* enum zt_tls_call */
	__u8 active;    /* set at entry, cleared at return */
	__u8 mismatch;  /* a second, different socket was used inside the same call */
	__u8 pad;
	/* Go calls (ZT_TLS_GO_*): the goroutine (its g pointer) that made the call. On a thread's
	 * frame, nonzero marks a thread that has run Go TLS calls: its syscalls look up the running
	 * goroutine's call in go_tls_calls_map. */
	__u64 g;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct zt_tls_frame);
} tls_frames_map SEC(".maps");

/* Go TLS calls in flight, per goroutine (a goroutine that parks inside Read resumes on another
 * thread). LRU: a goroutine that dies inside a call (a panic) leaves its entry behind. */
struct zt_go_call_key {
	__u32 tgid;
	__u32 pad;
	__u64 g;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct zt_go_call_key);
	__type(value, struct zt_tls_frame);
} go_tls_calls_map SEC(".maps");

#endif /* ZEROTRACE_TLS_FRAME_H */
