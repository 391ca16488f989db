// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* CUDA calls through uprobes on the runtime (libcudart, or cudart linked statically into an
 * executable or library) and the driver (libcuda). The agent finds the functions in each traced
 * process's mappings (agent/probes/, the family declared in agent/cuda/cuda_probes.cpp) and
 * attaches these programs per process and per file; the attach cookie says which API a probe
 * sits on (enum zt_cuda_api).
 *
 * One record per call, at its return (struct zt_cuda_call_event): arguments are read at entry and
 * kept per thread until the return. A probed call made from inside another probed call on the
 * same thread - the runtime's cudaLaunchKernel calling the driver's cuLaunchKernel, cudaMemcpy
 * calling its _ptds variant - is recognised by its deeper stack pointer and ignored, so each
 * launch is counted once, as the outermost API the application called.
 *
 * Naming calls (__cudaGetKernel, cuModuleGetFunction, cuLibraryGetKernel) emit a
 * zt_cuda_symbol_event instead: which kernel handle stands for which host function or name.
 *
 * zerotrace_cupti_deliver(batch, bytes), a function of the CUPTI injection library, is probed at
 * entry only: the batch of CUPTI records it is handed is copied into the ring buffer.
 *
 * Every uprobe hit costs a trap into the kernel (~20 us on these VMs, docs/gpu.md): the CUPTI path
 * is the cheap one for launch-heavy programs; these probes need nothing in the process. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "zerotrace/cuda_abi.h"
#include "zerotrace/maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* How soon after an entry a second entry at the same stack pointer counts as its tail call. */
#define TAIL_CALL_NS 1000000ull

/* The call in flight of each thread (the outermost probed one). */
struct cuda_call_state {
	struct zt_cuda_call_event ev;
	__u64 sp;      /* stack pointer at entry: the return address's slot */
	__u64 out_ptr; /* cudaMalloc: where the pointer is written */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct cuda_call_state);
} cuda_calls_map SEC(".maps");

struct cuda_naming_state {
	struct zt_cuda_symbol_event ev;
	__u64 sp;
	__u64 out_ptr; /* where the call writes the handle */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024); /* threads inside a naming call at once; ~1.1 KiB each */
	__type(key, __u64);
	__type(value, struct cuda_naming_state);
} cuda_naming_map SEC(".maps");

/* Scratch for building records too large for the BPF stack. */
struct cuda_scratch {
	struct cuda_call_state call;
	struct cuda_naming_state naming;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cuda_scratch);
} cuda_heap SEC(".maps");

struct cupti_scratch {
	struct zt_cupti_batch_event ev;
	__u8 data[ZT_CUPTI_BATCH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cupti_scratch);
} cupti_heap SEC(".maps");

/* The n-th argument passed on the stack (x86-64 System V: after six in registers). At a probe
 * on the first instruction, sp points at the return address; stack arguments follow it. */
static __always_inline __u64 stack_arg(struct pt_regs *ctx, int n, __u32 *flags)
{
	__u64 v = 0;

	if (bpf_probe_read_user(&v, sizeof(v), (void *)(PT_REGS_SP(ctx) + 8 * n)))
		*flags |= ZT_CUDA_F_ARGS_PARTIAL;
	return v;
}

/* A dim3 passed by value: 12 bytes in two registers, x and y packed in the first. */
static __always_inline void read_dim3_regs(__u32 out[3], __u64 xy, __u64 z)
{
	out[0] = (__u32)xy;
	out[1] = (__u32)(xy >> 32);
	out[2] = (__u32)z;
}

static __always_inline bool is_naming(__u32 api)
{
	return api == ZT_CUDA_GET_KERNEL || api == ZT_CU_MODULE_GET_FUNCTION || api == ZT_CU_LIBRARY_GET_KERNEL;
}

/* The runtime's cudaLaunchConfig_t: dim3 gridDim, dim3 blockDim, size_t dynamicSmemBytes,
 * cudaStream_t stream, ... */
struct launch_config_rt {
	__u32 grid[3];
	__u32 block[3];
	__u64 shmem;
	__u64 stream;
};

/* The driver's CUlaunchConfig: gridDimX..Z, blockDimX..Z, sharedMemBytes, CUstream hStream, ... */
struct launch_config_drv {
	__u32 grid[3];
	__u32 block[3];
	__u32 shmem;
	__u32 pad;
	__u64 stream;
};

static __always_inline void decode_args(struct pt_regs *ctx, struct cuda_call_state *st, __u32 api)
{
	struct zt_cuda_call_event *ev = &st->ev;

	switch (api) {
	case ZT_CUDA_LAUNCH_KERNEL:
	case ZT_CUDA_LAUNCH_KERNEL_HANDLE:
		/* (func, dim3 grid, dim3 block, void **args, size_t shmem, stream) */
		ev->function = PT_REGS_PARM1(ctx);
		read_dim3_regs(ev->grid, PT_REGS_PARM2(ctx), PT_REGS_PARM3(ctx));
		read_dim3_regs(ev->block, PT_REGS_PARM4(ctx), PT_REGS_PARM5(ctx));
		ev->bytes = stack_arg(ctx, 1, &ev->flags);
		ev->stream = stack_arg(ctx, 2, &ev->flags);
		ev->flags |= ZT_CUDA_F_ASYNC;
		if (api == ZT_CUDA_LAUNCH_KERNEL_HANDLE &&
		    bpf_probe_read_user(ev->stack, sizeof(ev->stack), (void *)PT_REGS_SP(ctx)))
			ev->flags |= ZT_CUDA_F_ARGS_PARTIAL;
		break;
	case ZT_CUDA_LAUNCH_KERNEL_EXC: {
		/* (const cudaLaunchConfig_t *config, func, void **args) */
		struct launch_config_rt cfg = {};

		ev->function = PT_REGS_PARM2(ctx);
		if (bpf_probe_read_user(&cfg, sizeof(cfg), (void *)PT_REGS_PARM1(ctx)))
			ev->flags |= ZT_CUDA_F_ARGS_PARTIAL;
		__builtin_memcpy(ev->grid, cfg.grid, sizeof(cfg.grid));
		__builtin_memcpy(ev->block, cfg.block, sizeof(cfg.block));
		ev->bytes = cfg.shmem;
		ev->stream = cfg.stream;
		ev->flags |= ZT_CUDA_F_ASYNC;
		break;
	}
	case ZT_CU_LAUNCH_KERNEL:
		/* (f, gx, gy, gz, bx, by, | bz, shmem, stream, params, extra) */
		ev->function = PT_REGS_PARM1(ctx);
		ev->grid[0] = (__u32)PT_REGS_PARM2(ctx);
		ev->grid[1] = (__u32)PT_REGS_PARM3(ctx);
		ev->grid[2] = (__u32)PT_REGS_PARM4(ctx);
		ev->block[0] = (__u32)PT_REGS_PARM5(ctx);
		ev->block[1] = (__u32)PT_REGS_PARM6(ctx);
		ev->block[2] = (__u32)stack_arg(ctx, 1, &ev->flags);
		ev->bytes = (__u32)stack_arg(ctx, 2, &ev->flags);
		ev->stream = stack_arg(ctx, 3, &ev->flags);
		ev->flags |= ZT_CUDA_F_ASYNC;
		break;
	case ZT_CU_LAUNCH_KERNEL_EX: {
		/* (const CUlaunchConfig *config, f, params, extra) */
		struct launch_config_drv cfg = {};

		ev->function = PT_REGS_PARM2(ctx);
		if (bpf_probe_read_user(&cfg, sizeof(cfg), (void *)PT_REGS_PARM1(ctx)))
			ev->flags |= ZT_CUDA_F_ARGS_PARTIAL;
		__builtin_memcpy(ev->grid, cfg.grid, sizeof(cfg.grid));
		__builtin_memcpy(ev->block, cfg.block, sizeof(cfg.block));
		ev->bytes = cfg.shmem;
		ev->stream = cfg.stream;
		ev->flags |= ZT_CUDA_F_ASYNC;
		break;
	}
	case ZT_CUDA_MEMCPY:
	case ZT_CUDA_MEMCPY_ASYNC:
		/* (dst, src, count, kind[, stream]) */
		ev->dst = PT_REGS_PARM1(ctx);
		ev->src = PT_REGS_PARM2(ctx);
		ev->bytes = PT_REGS_PARM3(ctx);
		ev->memcpy_kind = (__u32)PT_REGS_PARM4(ctx);
		if (api == ZT_CUDA_MEMCPY_ASYNC) {
			ev->stream = PT_REGS_PARM5(ctx);
			ev->flags |= ZT_CUDA_F_ASYNC;
		}
		break;
	case ZT_CUDA_MEMSET:
	case ZT_CUDA_MEMSET_ASYNC:
		/* (dst, int value, count[, stream]) */
		ev->dst = PT_REGS_PARM1(ctx);
		ev->src = (__u32)PT_REGS_PARM2(ctx);
		ev->bytes = PT_REGS_PARM3(ctx);
		if (api == ZT_CUDA_MEMSET_ASYNC) {
			ev->stream = PT_REGS_PARM4(ctx);
			ev->flags |= ZT_CUDA_F_ASYNC;
		}
		break;
	case ZT_CUDA_MALLOC:
		/* (void **devPtr, size): the pointer is read at the return */
		st->out_ptr = PT_REGS_PARM1(ctx);
		ev->bytes = PT_REGS_PARM2(ctx);
		break;
	case ZT_CUDA_FREE:
		ev->dst = PT_REGS_PARM1(ctx);
		break;
	case ZT_CUDA_STREAM_SYNCHRONIZE:
	case ZT_CU_STREAM_SYNCHRONIZE:
		ev->stream = PT_REGS_PARM1(ctx);
		break;
	case ZT_CUDA_EVENT_SYNCHRONIZE:
	case ZT_CU_EVENT_SYNCHRONIZE:
		ev->src = PT_REGS_PARM1(ctx);
		break;
	case ZT_CU_MEMCPY:
	case ZT_CU_MEMCPY_ASYNC:
	case ZT_CU_MEMCPY_HTOD:
	case ZT_CU_MEMCPY_DTOH:
	case ZT_CU_MEMCPY_DTOD:
	case ZT_CU_MEMCPY_HTOD_ASYNC:
	case ZT_CU_MEMCPY_DTOH_ASYNC:
	case ZT_CU_MEMCPY_DTOD_ASYNC:
		/* (dst, src, bytes[, stream]) */
		ev->dst = PT_REGS_PARM1(ctx);
		ev->src = PT_REGS_PARM2(ctx);
		ev->bytes = PT_REGS_PARM3(ctx);
		if (api == ZT_CU_MEMCPY_HTOD || api == ZT_CU_MEMCPY_HTOD_ASYNC)
			ev->memcpy_kind = ZT_MEMCPY_HOST_TO_DEVICE;
		else if (api == ZT_CU_MEMCPY_DTOH || api == ZT_CU_MEMCPY_DTOH_ASYNC)
			ev->memcpy_kind = ZT_MEMCPY_DEVICE_TO_HOST;
		else if (api == ZT_CU_MEMCPY_DTOD || api == ZT_CU_MEMCPY_DTOD_ASYNC)
			ev->memcpy_kind = ZT_MEMCPY_DEVICE_TO_DEVICE;
		else
			ev->memcpy_kind = ZT_MEMCPY_DEFAULT;
		if (api == ZT_CU_MEMCPY_ASYNC || api == ZT_CU_MEMCPY_HTOD_ASYNC ||
		    api == ZT_CU_MEMCPY_DTOH_ASYNC || api == ZT_CU_MEMCPY_DTOD_ASYNC) {
			ev->stream = PT_REGS_PARM4(ctx);
			ev->flags |= ZT_CUDA_F_ASYNC;
		}
		break;
	case ZT_CU_MEMSET_D8:
	case ZT_CU_MEMSET_D16:
	case ZT_CU_MEMSET_D32:
	case ZT_CU_MEMSET_D8_ASYNC:
	case ZT_CU_MEMSET_D16_ASYNC:
	case ZT_CU_MEMSET_D32_ASYNC:
		/* (dst, value, count of elements[, stream]): `bytes` holds the count, the agent
		 * multiplies by the element width */
		ev->dst = PT_REGS_PARM1(ctx);
		ev->src = (__u32)PT_REGS_PARM2(ctx);
		ev->bytes = PT_REGS_PARM3(ctx);
		if (api >= ZT_CU_MEMSET_D8_ASYNC) {
			ev->stream = PT_REGS_PARM4(ctx);
			ev->flags |= ZT_CUDA_F_ASYNC;
		}
		break;
	default: /* synchronisations without arguments */
		break;
	}
}

static __always_inline struct cuda_scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cuda_heap, &zero);
}

static __always_inline void naming_enter(struct pt_regs *ctx, __u64 pid_tgid, __u32 api, __u64 sp)
{
	struct cuda_naming_state *prev = bpf_map_lookup_elem(&cuda_naming_map, &pid_tgid);

	if (prev && sp < prev->sp)
		return; /* nested in an outer naming call: the outer one names the handle */
	struct cuda_scratch *s = scratch();
	if (!s)
		return;
	struct cuda_naming_state *st = &s->naming;

	/* Field by field: the name is too large for a memset the verifier accepts. Bytes after the
	 * name's NUL are not read. */
	__builtin_memset(&st->ev.hdr, 0, sizeof(st->ev.hdr));
	st->ev.result = 0;
	st->ev.handle = 0;
	st->ev.host_function = 0;
	st->ev.name[0] = '\0';
	st->sp = sp;
	st->ev.api = api;
	st->out_ptr = PT_REGS_PARM1(ctx);
	if (api == ZT_CUDA_GET_KERNEL)
		st->ev.host_function = PT_REGS_PARM2(ctx); /* (cudaKernel_t *out, const void *hostFunc) */
	else /* (CUfunction / CUkernel *out, CUmodule / CUlibrary, const char *name) */
		bpf_probe_read_user_str(st->ev.name, sizeof(st->ev.name), (void *)PT_REGS_PARM3(ctx));
	bpf_map_update_elem(&cuda_naming_map, &pid_tgid, st, BPF_ANY);
}

static __always_inline void naming_exit(struct pt_regs *ctx, __u64 pid_tgid, __u32 api, __u64 sp)
{
	struct cuda_naming_state *st = bpf_map_lookup_elem(&cuda_naming_map, &pid_tgid);

	if (!st || sp <= st->sp)
		return; /* no entry seen, or the return of a nested call */
	if (st->ev.api == api) {
		st->ev.result = (__s32)PT_REGS_RC(ctx);
		if (bpf_probe_read_user(&st->ev.handle, sizeof(st->ev.handle), (void *)st->out_ptr))
			st->ev.handle = 0;
		fill_header(&st->ev.hdr, ZT_EV_CUDA_SYMBOL, pid_tgid);
		submit(&st->ev, sizeof(st->ev));
	}
	bpf_map_delete_elem(&cuda_naming_map, &pid_tgid);
}

static __always_inline int on_cuda_enter(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!is_traced(pid_tgid >> 32))
		return 0;
	__u32 api = (__u32)bpf_get_attach_cookie(ctx);
	__u64 sp = PT_REGS_SP(ctx);

	if (is_naming(api)) {
		naming_enter(ctx, pid_tgid, api, sp);
		return 0;
	}
	struct cuda_call_state *prev = bpf_map_lookup_elem(&cuda_calls_map, &pid_tgid);
	/* A deeper stack than the call in flight: called from inside it. The same stack pointer, for
	 * another function, moments later: a tail call (CUDA 13's __cudaLaunchKernel is a thunk that
	 * jumps into cudaLaunchKernel; GPU review, finding 1): the outer call, which has the kernel
	 * handle, is kept. Otherwise (shallower, or equal and stale) the call in flight never
	 * returned through its probe (longjmp, a probe detached in between) and is replaced. */
	if (prev && (sp < prev->sp ||
		     (sp == prev->sp && prev->ev.api != api && bpf_ktime_get_ns() - prev->ev.start_ns < TAIL_CALL_NS)))
		return 0;
	struct cuda_scratch *s = scratch();
	if (!s)
		return 0;
	struct cuda_call_state *st = &s->call;

	__builtin_memset(st, 0, sizeof(*st));
	st->sp = sp;
	st->ev.api = api;
	st->ev.start_ns = bpf_ktime_get_ns();
	decode_args(ctx, st, api);
	bpf_map_update_elem(&cuda_calls_map, &pid_tgid, st, BPF_ANY);
	return 0;
}

static __always_inline int on_cuda_exit(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 api = (__u32)bpf_get_attach_cookie(ctx);
	/* After the return the return address has been popped: sp is the entry's sp + 8. */
	__u64 sp = PT_REGS_SP(ctx);

	if (is_naming(api)) {
		naming_exit(ctx, pid_tgid, api, sp);
		return 0;
	}
	struct cuda_call_state *st = bpf_map_lookup_elem(&cuda_calls_map, &pid_tgid);

	if (!st || sp <= st->sp)
		return 0; /* no entry seen (attached mid-call), or a nested call's return */
	if (st->ev.api != api) {
		/* The return of a tail-called function (see the entry): it returns to the outer call's
		 * return address (sp one word above the outer entry's), whose return probe fires next
		 * on the same return and reports the call. Anything else: the call in flight is stale. */
		if (sp != st->sp + 8)
			bpf_map_delete_elem(&cuda_calls_map, &pid_tgid);
		return 0;
	}
	st->ev.result = (__s32)PT_REGS_RC(ctx);
	if (api == ZT_CUDA_MALLOC && st->out_ptr &&
	    bpf_probe_read_user(&st->ev.dst, sizeof(st->ev.dst), (void *)st->out_ptr))
		st->ev.dst = 0;
	fill_header(&st->ev.hdr, ZT_EV_CUDA_CALL, pid_tgid);
	submit(&st->ev, sizeof(st->ev));
	bpf_map_delete_elem(&cuda_calls_map, &pid_tgid);
	return 0;
}

/* zerotrace_cupti_deliver(const void *batch, uint32_t bytes) */
static __always_inline int on_cupti_deliver(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	if (!is_traced(pid_tgid >> 32))
		return 0;
	__u32 zero = 0;
	struct cupti_scratch *s = bpf_map_lookup_elem(&cupti_heap, &zero);

	if (!s)
		return 0;
	__u64 bytes = (__u32)PT_REGS_PARM2(ctx);

	s->ev.flags = 0;
	if (bytes > ZT_CUPTI_BATCH_MAX) {
		bytes = ZT_CUPTI_BATCH_MAX;
		s->ev.flags |= ZT_CUPTI_F_TRUNCATED;
	}
	if (bytes == 0)
		return 0;
	if (bpf_probe_read_user(s->data, bytes, (void *)PT_REGS_PARM1(ctx))) {
		count(ZT_CNT_READ_FAILED);
		return 0;
	}
	s->ev.bytes = (__u32)bytes;
	fill_header(&s->ev.hdr, ZT_EV_CUPTI_BATCH, pid_tgid);
	submit(s, sizeof(s->ev) + bytes);
	return 0;
}

/* Each program in two builds, one per link kind (the loader loads one set, agent/loader/
 * bpf_loader.cpp): `p` for a link per function, `p_multi` for one uprobe_multi link per file. */
SEC("uprobe")
int cuda_enter(struct pt_regs *ctx) { return on_cuda_enter(ctx); }
SEC("uretprobe")
int cuda_exit(struct pt_regs *ctx) { return on_cuda_exit(ctx); }
SEC("uprobe")
int cupti_deliver(struct pt_regs *ctx) { return on_cupti_deliver(ctx); }

SEC("uprobe.multi")
int cuda_enter_multi(struct pt_regs *ctx) { return on_cuda_enter(ctx); }
SEC("uretprobe.multi")
int cuda_exit_multi(struct pt_regs *ctx) { return on_cuda_exit(ctx); }
SEC("uprobe.multi")
int cupti_deliver_multi(struct pt_regs *ctx) { return on_cupti_deliver(ctx); }
