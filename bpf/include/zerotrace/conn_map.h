/* The connection table the socket programs keep (bpf/sockets.bpf.c) and the TLS programs read
 * (bpf/tls.bpf.c): the loader creates it in the sockets object and hands the same map to the TLS
 * object before it loads. */
#ifndef ZEROTRACE_CONN_MAP_H
#define ZEROTRACE_CONN_MAP_H

#include "zerotrace/abi.h"

struct conn_state {
	__u64 conn_id;
	__u64 position[2]; /* next stream offset per direction (bytes on the socket) */
	/* Start time of the owning process: an entry left by an earlier process with the same tgid
	 * (exits do not clean the map; it is LRU) does not match and is replaced. */
	__u64 proc_start_ns;
	/* Next offset per direction of the plaintext TLS calls carried on this socket (a stream of
	 * its own: the socket's positions count ciphertext). */
	__u64 tls_position[2];
	struct zt_tuple tuple;
	__u8 role;
	__u8 flags; /* ZT_DATA_F_MIDSTREAM, ZT_DATA_F_TLS */
	__u8 pad[6];
};

/* Tracked TCP sockets by (tgid, fd). LRU so that sockets whose close we never saw (fd passed to
 * another process, process killed) age out instead of filling the map. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct zt_conn_key);
	__type(value, struct conn_state);
} conn_map SEC(".maps");

static __always_inline __u64 process_start_ns(void)
{
	return bpf_get_current_task_btf()->group_leader->start_time;
}

/* The connection state of (tgid, fd), unless it belongs to an earlier process with that tgid. */
static __always_inline struct conn_state *lookup_conn(const struct zt_conn_key *key)
{
	struct conn_state *conn = bpf_map_lookup_elem(&conn_map, key);

	if (conn && conn->proc_start_ns != process_start_ns()) {
		bpf_map_delete_elem(&conn_map, key);
		return NULL;
	}
	return conn;
}

#endif /* ZEROTRACE_CONN_MAP_H */
