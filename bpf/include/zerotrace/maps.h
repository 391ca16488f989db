/* Maps shared by every BPF object of zerotrace. Each object includes this header; the loader
 * creates the maps once (in the sockets object) and hands the same file descriptors to the other
 * objects before they load (bpf_map__reuse_fd), so all programs see one traced set, one ring
 * buffer and one set of counters. */
#ifndef ZEROTRACE_MAPS_H
#define ZEROTRACE_MAPS_H

#include "zerotrace/abi.h"

/* Processes (tgid) whose syscalls are captured. Written by the agent and by the fork hook. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct zt_traced_pid);
} traced_pids_map SEC(".maps");

/* Everything the agent reads. Size set by the loader before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} events SEC(".maps");

/* Per-CPU counters indexed by enum zt_counter. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZT_CNT_NR);
	__type(key, __u32);
	__type(value, __u64);
} counters_map SEC(".maps");

/* Set by the loader through rodata before load. */
const volatile bool trace_all = false;   /* node mode with no selection: every process */
const volatile __u32 agent_tgid = 0;     /* never traced, even with trace_all */
/* Bytes waiting in the ring buffer above which a record wakes the reader; below it records are
 * submitted without a wakeup (a wakeup per record costs ~4 us here) and the reader drains on a
 * timer. */
const volatile __u64 wakeup_threshold = 1024 * 1024;

static __always_inline void count(__u32 counter)
{
	__u64 *value = bpf_map_lookup_elem(&counters_map, &counter);

	if (value)
		*value += 1; /* per-CPU slot: no atomic needed */
}

static __always_inline bool is_traced(__u32 tgid)
{
	if (trace_all)
		return tgid != agent_tgid;
	return bpf_map_lookup_elem(&traced_pids_map, &tgid) != NULL;
}

static __always_inline __u64 ringbuf_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > wakeup_threshold ? BPF_RB_FORCE_WAKEUP
										 : BPF_RB_NO_WAKEUP;
}

/* Copies `size` bytes from `data` into the ring buffer; counts the loss when it is full. */
static __always_inline void submit(void *data, __u64 size)
{
	if (bpf_ringbuf_output(&events, data, size, ringbuf_flags()) == 0)
		count(ZT_CNT_EVENTS);
	else
		count(ZT_CNT_DROPPED_RINGBUF);
}

static __always_inline void fill_header(struct zt_event_header *hdr, __u32 kind, __u64 pid_tgid)
{
	hdr->kind = kind;
	hdr->pid = pid_tgid >> 32;
	hdr->tid = (__u32)pid_tgid;
	hdr->pad = 0;
	hdr->ts_ns = bpf_ktime_get_ns();
}

#endif /* ZEROTRACE_MAPS_H */
