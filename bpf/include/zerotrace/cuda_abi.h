/* CUDA records: what bpf/cuda.bpf.c emits for the CUDA calls it sees through uprobes, and the
 * batches the CUPTI injection library (agent/cuda/injection) hands to the agent.
 *
 * Same rules as abi.h: fixed-width fields, no implicit padding; sizes and offsets are
 * static_asserted in agent/cuda/cuda_abi_layout.h. Included from BPF C, from the agent and from
 * the injection library.
 */
#ifndef ZEROTRACE_CUDA_ABI_H
#define ZEROTRACE_CUDA_ABI_H

#include "zerotrace/abi.h"

/* Ring-buffer record kinds (continuing enum zt_event_kind). */
#define ZT_EV_CUDA_CALL 16    /* struct zt_cuda_call_event: one CUDA API call, at its return */
#define ZT_EV_CUDA_SYMBOL 17  /* struct zt_cuda_symbol_event: a kernel handle and what names it */
#define ZT_EV_CUPTI_BATCH 18  /* struct zt_cupti_batch_event + a batch (struct zt_cupti_batch_header ...) */
#define ZT_EV_EXEC_MAPPING 19 /* struct zt_event_header: a traced process mapped a file executable */

/* The CUDA functions probed. The value travels as the uprobe's attach cookie and in the events.
 * Runtime API (libcudart, shared or linked statically) first, then the driver API (libcuda). */
enum zt_cuda_api {
	ZT_CUDA_NONE = 0,
	/* runtime: kernel launches */
	ZT_CUDA_LAUNCH_KERNEL = 1,        /* cudaLaunchKernel(_ptsz)(hostFunc, grid, block, args, shmem, stream) */
	ZT_CUDA_LAUNCH_KERNEL_HANDLE = 2, /* __cudaLaunchKernel(_ptsz)(cudaKernel_t, grid, block, args, shmem, stream): CUDA 13 stubs */
	ZT_CUDA_LAUNCH_KERNEL_EXC = 3,    /* cudaLaunchKernelExC(_ptsz)(const cudaLaunchConfig_t*, hostFunc, args) */
	/* runtime: copies and sets */
	ZT_CUDA_MEMCPY = 4,               /* cudaMemcpy(dst, src, count, kind) */
	ZT_CUDA_MEMCPY_ASYNC = 5,         /* cudaMemcpyAsync(_ptsz)(dst, src, count, kind, stream) */
	ZT_CUDA_MEMSET = 6,               /* cudaMemset(dst, value, count) */
	ZT_CUDA_MEMSET_ASYNC = 7,         /* cudaMemsetAsync(_ptsz)(dst, value, count, stream) */
	/* runtime: allocation */
	ZT_CUDA_MALLOC = 8,               /* cudaMalloc(void** ptr, size) */
	ZT_CUDA_FREE = 9,                 /* cudaFree(ptr) */
	/* runtime: synchronisation */
	ZT_CUDA_DEVICE_SYNCHRONIZE = 10,  /* cudaDeviceSynchronize() */
	ZT_CUDA_STREAM_SYNCHRONIZE = 11,  /* cudaStreamSynchronize(_ptsz)(stream) */
	ZT_CUDA_EVENT_SYNCHRONIZE = 12,   /* cudaEventSynchronize(event) */
	/* runtime: naming (ZT_EV_CUDA_SYMBOL) */
	ZT_CUDA_GET_KERNEL = 13,          /* __cudaGetKernel(cudaKernel_t* out, const void* hostFunc) */

	/* driver: kernel launches */
	ZT_CU_LAUNCH_KERNEL = 32,         /* cuLaunchKernel(_ptsz)(f, gx, gy, gz, bx, by, bz, shmem, stream, params, extra) */
	ZT_CU_LAUNCH_KERNEL_EX = 33,      /* cuLaunchKernelEx(_ptsz)(const CUlaunchConfig*, f, params, extra) */
	/* driver: copies (bytes and direction from the arguments) */
	ZT_CU_MEMCPY = 34,                /* cuMemcpy(_ptds)(dst, src, bytes): unified addressing, kind Default */
	ZT_CU_MEMCPY_ASYNC = 35,          /* cuMemcpyAsync(_ptsz)(dst, src, bytes, stream) */
	ZT_CU_MEMCPY_HTOD = 36,           /* cuMemcpyHtoD_v2(_ptds)(dstDevice, srcHost, bytes) */
	ZT_CU_MEMCPY_DTOH = 37,           /* cuMemcpyDtoH_v2(_ptds)(dstHost, srcDevice, bytes) */
	ZT_CU_MEMCPY_DTOD = 38,           /* cuMemcpyDtoD_v2(_ptds)(dstDevice, srcDevice, bytes) */
	ZT_CU_MEMCPY_HTOD_ASYNC = 39,     /* cuMemcpyHtoDAsync_v2(_ptsz)(dst, src, bytes, stream) */
	ZT_CU_MEMCPY_DTOH_ASYNC = 40,     /* cuMemcpyDtoHAsync_v2(_ptsz)(dst, src, bytes, stream) */
	ZT_CU_MEMCPY_DTOD_ASYNC = 41,     /* cuMemcpyDtoDAsync_v2(_ptsz)(dst, src, bytes, stream) */
	/* driver: sets; count is in elements of 1, 2 or 4 bytes (bytes = count * width) */
	ZT_CU_MEMSET_D8 = 42,             /* cuMemsetD8_v2(_ptds)(dst, uc, n) */
	ZT_CU_MEMSET_D16 = 43,            /* cuMemsetD16_v2(_ptds)(dst, us, n) */
	ZT_CU_MEMSET_D32 = 44,            /* cuMemsetD32_v2(_ptds)(dst, ui, n) */
	ZT_CU_MEMSET_D8_ASYNC = 45,       /* cuMemsetD8Async(_ptsz)(dst, uc, n, stream) */
	ZT_CU_MEMSET_D16_ASYNC = 46,      /* cuMemsetD16Async(_ptsz)(dst, us, n, stream) */
	ZT_CU_MEMSET_D32_ASYNC = 47,      /* cuMemsetD32Async(_ptsz)(dst, ui, n, stream) */
	/* driver: synchronisation */
	ZT_CU_CTX_SYNCHRONIZE = 48,       /* cuCtxSynchronize() */
	ZT_CU_STREAM_SYNCHRONIZE = 49,    /* cuStreamSynchronize(_ptsz)(stream) */
	ZT_CU_EVENT_SYNCHRONIZE = 50,     /* cuEventSynchronize(event) */
	/* driver: naming (ZT_EV_CUDA_SYMBOL) */
	ZT_CU_MODULE_GET_FUNCTION = 51,   /* cuModuleGetFunction(CUfunction* out, CUmodule, const char* name) */
	ZT_CU_LIBRARY_GET_KERNEL = 52,    /* cuLibraryGetKernel(CUkernel* out, CUlibrary, const char* name) */

	/* the CUPTI injection library's delivery function (ZT_EV_CUPTI_BATCH) */
	ZT_CUPTI_DELIVER = 64,            /* zerotrace_cupti_deliver(const void* batch, uint32_t bytes) */
	ZT_CUDA_API_MAX = 65,
};

/* cudaMemcpyKind values (the driver's copies are mapped to the same numbers). */
enum zt_cuda_memcpy_kind {
	ZT_MEMCPY_HOST_TO_HOST = 0,
	ZT_MEMCPY_HOST_TO_DEVICE = 1,
	ZT_MEMCPY_DEVICE_TO_HOST = 2,
	ZT_MEMCPY_DEVICE_TO_DEVICE = 3,
	ZT_MEMCPY_DEFAULT = 4, /* direction inferred from the pointers (unified addressing) */
};

/* zt_cuda_call_event.flags */
#define ZT_CUDA_F_ASYNC 0x1       /* an ...Async call: returns before the GPU work is done */
#define ZT_CUDA_F_ARGS_PARTIAL 0x2 /* an argument behind a pointer could not be read */

#define ZT_CUDA_STACK_WORDS 16

/* One CUDA API call, emitted at its return. A call made from inside another probed call on the
 * same thread (the runtime calling the driver) is not emitted: each launch is counted once. */
struct zt_cuda_call_event {
	struct zt_event_header hdr; /* kind ZT_EV_CUDA_CALL; ts_ns = return */
	zt_u64 start_ns;            /* entry, CLOCK_MONOTONIC */
	zt_u32 api;                 /* enum zt_cuda_api */
	zt_s32 result;              /* cudaError_t or CUresult returned (0 = success) */
	zt_u64 function;            /* launches: host function, cudaKernel_t or CUfunction; 0 otherwise */
	zt_u64 stream;              /* cudaStream_t / CUstream; 0 = the legacy default stream */
	zt_u64 bytes;               /* copies and sets: bytes; launches: dynamic shared memory; malloc: size */
	zt_u64 dst;                 /* copies, sets, free: device/host destination; malloc: pointer returned */
	zt_u64 src;                 /* copies: source; sets: the value; syncs on an event: the event */
	zt_u32 grid[3];             /* launches */
	zt_u32 block[3];            /* launches */
	zt_u32 memcpy_kind;         /* enum zt_cuda_memcpy_kind */
	zt_u32 flags;               /* ZT_CUDA_F_* */
	/* ZT_CUDA_LAUNCH_KERNEL_HANDLE only: the words at the top of the caller's stack at entry. The
	 * nvcc-generated stub that launched the kernel left its return address there; the agent
	 * names the kernel from it when the handle is unknown (a handle named before the probes were
	 * attached, or 0 because __cudaGetKernel failed). */
	zt_u64 stack[ZT_CUDA_STACK_WORDS];
};

/* A kernel handle and what names it: __cudaGetKernel (handle -> host function, resolved through the
 * process's ELF symbols) or cuModuleGetFunction / cuLibraryGetKernel (handle -> name string). */
#define ZT_CUDA_SYMBOL_NAME_MAX 1024 /* longer names (from cuModuleGetFunction) are cut */
struct zt_cuda_symbol_event {
	struct zt_event_header hdr; /* kind ZT_EV_CUDA_SYMBOL */
	zt_u32 api;                 /* ZT_CUDA_GET_KERNEL, ZT_CU_MODULE_GET_FUNCTION, ZT_CU_LIBRARY_GET_KERNEL */
	zt_s32 result;
	zt_u64 handle;              /* cudaKernel_t / CUfunction / CUkernel written by the call */
	zt_u64 host_function;       /* __cudaGetKernel: the host function's address; 0 otherwise */
	char name[ZT_CUDA_SYMBOL_NAME_MAX]; /* cu*Get*: the (mangled) name, NUL-terminated; "" otherwise */
};

/* ------------------------------------------------------------------------------------------------
 * CUPTI batches. The injection library fills a buffer with records and calls
 * zerotrace_cupti_deliver(buffer, bytes); the agent's uprobe on that function copies the buffer
 * into the ring buffer after a struct zt_cupti_batch_event. Timestamps in every record are already
 * CLOCK_MONOTONIC nanoseconds (the library aligns CUPTI's clock to it).
 * A batch: struct zt_cupti_batch_header, then `records` records, each beginning with a
 * struct zt_cupti_record_header whose `size` (a multiple of 8) covers the whole record.
 * ------------------------------------------------------------------------------------------------ */
#define ZT_CUPTI_BATCH_MAX 16384 /* bytes of a batch, header included */
#define ZT_CUPTI_MAGIC 0x5543545au /* "ZTCU" little-endian */
#define ZT_CUPTI_VERSION 1

struct zt_cupti_batch_event {
	struct zt_event_header hdr; /* kind ZT_EV_CUPTI_BATCH */
	zt_u32 bytes;               /* batch bytes that follow (<= ZT_CUPTI_BATCH_MAX) */
	zt_u32 flags;               /* ZT_CUPTI_F_TRUNCATED: the library asked for more than the max */
};
#define ZT_CUPTI_F_TRUNCATED 0x1

/* zt_cupti_batch_header.flags */
#define ZT_CUPTI_BATCH_F_COLLECTING 0x1 /* the library subscribed: its API records stand for the
					  * process's CUDA calls (the agent stops using uprobe calls),
					  * in every batch, so that an agent that probed the library
					  * after its first batch still knows */

struct zt_cupti_batch_header {
	zt_u32 magic;     /* ZT_CUPTI_MAGIC */
	zt_u16 version;   /* ZT_CUPTI_VERSION */
	zt_u16 flags;     /* ZT_CUPTI_BATCH_F_* */
	zt_u32 records;   /* records that follow */
	zt_u32 bytes;     /* bytes of the batch, this header included */
	zt_u64 sequence;  /* batches of a process are numbered from 0: a gap is a lost batch */
	zt_u64 dropped;   /* records lost so far in the process (CUPTI's and the library's), cumulative */
};

enum zt_cupti_record_type {
	ZT_CUPTI_REC_API = 1,    /* struct zt_cupti_api_record: a runtime or driver API callback pair */
	ZT_CUPTI_REC_KERNEL = 2, /* struct zt_cupti_kernel_record + name */
	ZT_CUPTI_REC_MEMCPY = 3, /* struct zt_cupti_memcpy_record */
	ZT_CUPTI_REC_MEMSET = 4, /* struct zt_cupti_memset_record */
	ZT_CUPTI_REC_SYNC = 5,   /* struct zt_cupti_sync_record */
	ZT_CUPTI_REC_STATUS = 6, /* struct zt_cupti_status_record: the library's state (started, stepped aside) */
};

struct zt_cupti_record_header {
	zt_u16 type; /* enum zt_cupti_record_type */
	zt_u16 size; /* bytes of the whole record, header included, multiple of 8 */
	zt_u32 correlation_id; /* CUPTI correlation id; 0 for status records */
};

/* API callback: entry and exit of one runtime or driver call on a CPU thread. */
struct zt_cupti_api_record {
	struct zt_cupti_record_header h;
	zt_u64 start_ns;  /* CPU, CLOCK_MONOTONIC */
	zt_u64 end_ns;
	zt_u32 tid;       /* Linux thread id of the caller */
	zt_u32 api;       /* enum zt_cuda_api (ZT_CUDA_NONE for calls outside it) */
	zt_u32 cbid;      /* CUPTI callback id */
	zt_s32 result;    /* the call's return value */
	zt_u8 domain;     /* 1 = driver, 2 = runtime (CUpti_CallbackDomain) */
	zt_u8 pad[7];
};

/* Mangled names of CUTLASS, FlashAttention and cuBLASLt-style template kernels run well past 512
 * bytes (GPU review, finding 8): a cut name neither demangles nor tells such kernels apart. */
#define ZT_CUPTI_NAME_MAX 4096
/* GPU execution of a kernel. The kernel's (mangled) name follows, `name_len` bytes without NUL,
 * padded to a multiple of 8. */
struct zt_cupti_kernel_record {
	struct zt_cupti_record_header h;
	zt_u64 start_ns;  /* GPU, aligned to CLOCK_MONOTONIC */
	zt_u64 end_ns;
	zt_u64 stream_id; /* CUPTI stream id */
	zt_u32 device_id;
	zt_u32 context_id;
	zt_u32 grid[3];
	zt_u32 block[3];
	zt_u32 registers_per_thread;
	zt_u32 static_shared_memory;
	zt_u32 dynamic_shared_memory;
	zt_u32 local_memory_per_thread;
	zt_u16 name_len;  /* <= ZT_CUPTI_NAME_MAX; longer names are cut */
	zt_u16 pad[3];
};

/* GPU execution of a copy. */
struct zt_cupti_memcpy_record {
	struct zt_cupti_record_header h;
	zt_u64 start_ns;
	zt_u64 end_ns;
	zt_u64 bytes;
	zt_u64 stream_id;
	zt_u32 device_id;
	zt_u32 context_id;
	zt_u8 copy_kind;  /* CUpti_ActivityMemcpyKind: 1 HtoD, 2 DtoH, 8 DtoD, 10 PtoP, ... */
	zt_u8 src_kind;   /* CUpti_ActivityMemoryKind: 1 pageable, 2 pinned, 3 device, ... */
	zt_u8 dst_kind;
	zt_u8 async;      /* 1: issued by an ...Async call */
	zt_u32 pad;
};

/* GPU execution of a set. */
struct zt_cupti_memset_record {
	struct zt_cupti_record_header h;
	zt_u64 start_ns;
	zt_u64 end_ns;
	zt_u64 bytes;
	zt_u64 stream_id;
	zt_u32 device_id;
	zt_u32 context_id;
	zt_u32 value;
	zt_u8 memory_kind;
	zt_u8 pad[3];
};

/* A synchronisation, as CUPTI's SYNCHRONIZATION activity saw it (CPU-side wait, CUPTI timestamps). */
struct zt_cupti_sync_record {
	struct zt_cupti_record_header h;
	zt_u64 start_ns;
	zt_u64 end_ns;
	zt_u64 stream_id; /* 0 when not a stream sync */
	zt_u32 context_id;
	zt_u32 type;      /* CUpti_ActivitySynchronizationType: 1 event, 2 stream wait event, 3 stream, 4 context */
};

enum zt_cupti_status {
	ZT_CUPTI_STATUS_STARTED = 1,        /* subscribed; activity collection enabled */
	ZT_CUPTI_STATUS_OTHER_SUBSCRIBER = 2, /* another CUPTI subscriber holds the process: stepped aside */
	ZT_CUPTI_STATUS_ERROR = 3,          /* a CUPTI call failed; `detail` = CUptiResult */
	ZT_CUPTI_STATUS_STOPPED = 4,        /* the process is exiting; last batch */
};

struct zt_cupti_status_record {
	struct zt_cupti_record_header h;
	zt_u32 status; /* enum zt_cupti_status */
	zt_s32 detail;
	zt_u64 clock_offset_ns; /* CLOCK_MONOTONIC - CUPTI timestamp, as last measured (signed, two's complement) */
};

#endif /* ZEROTRACE_CUDA_ABI_H */
