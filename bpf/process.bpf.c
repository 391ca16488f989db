// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Process lifecycle from the sched tracepoints (BTF-typed: no tracefs needed): children of
 * traced processes become traced in the kernel at fork, before they run a single instruction;
 * exec and exit are reported so that the agent can refresh or drop a process's identity. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "zerotrace/maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Node mode with selection rules: report every exec so the agent can decide. */
const volatile bool report_all_execs = false;

static __always_inline void emit_proc_event(__u32 kind, __u32 tgid, __u32 tid, __u32 ppid,
					    __u32 parent_tid, __s32 exit_code, struct task_struct *task)
{
	struct zt_proc_event ev = {};

	fill_header(&ev.hdr, kind, ((__u64)tgid << 32) | tid);
	ev.ppid = ppid;
	ev.parent_tid = parent_tid;
	ev.exit_code = exit_code;
	BPF_CORE_READ_STR_INTO(&ev.comm, task, comm);
	submit(&ev, sizeof(ev));
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 parent_tgid = BPF_CORE_READ(parent, tgid);
	__u32 child_tgid = BPF_CORE_READ(child, tgid);

	if (parent_tgid == child_tgid) {
		/* A new thread is traced with its tgid; the agent only needs to know who created it
		 * (a thread started while serving a request inherits that request). */
		if (is_traced(parent_tgid))
			emit_proc_event(ZT_EV_THREAD_NEW, child_tgid, BPF_CORE_READ(child, pid), parent_tgid,
					BPF_CORE_READ(parent, pid), 0, child);
		return 0;
	}
	struct zt_traced_pid *traced = bpf_map_lookup_elem(&traced_pids_map, &parent_tgid);
	if (!traced || !(traced->flags & ZT_TRACE_F_FOLLOW_CHILDREN))
		return 0;
	struct zt_traced_pid inherit = *traced;
	bpf_map_update_elem(&traced_pids_map, &child_tgid, &inherit, BPF_ANY);
	emit_proc_event(ZT_EV_PROC_FORK, child_tgid, BPF_CORE_READ(child, pid), parent_tgid,
			BPF_CORE_READ(parent, pid), 0, child);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);

	if (!report_all_execs && !is_traced(tgid))
		return 0;
	emit_proc_event(ZT_EV_PROC_EXEC, tgid, BPF_CORE_READ(task, pid),
			BPF_CORE_READ(task, real_parent, tgid), 0, 0, task);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);

	/* The last thread of the group: signal->live has already dropped to zero. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	if (!is_traced(tgid))
		return 0;
	bpf_map_delete_elem(&traced_pids_map, &tgid);
	emit_proc_event(ZT_EV_PROC_EXIT, tgid, BPF_CORE_READ(task, pid), 0, 0,
			BPF_CORE_READ(task, exit_code) >> 8, task);
	return 0;
}
