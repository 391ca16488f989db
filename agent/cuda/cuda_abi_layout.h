// The layout of the CUDA and CUPTI records (bpf/include/zerotrace/cuda_abi.h) is a contract
// between three builds: the BPF object, the agent and the CUPTI injection library. Every header of
// the agent and the library that reads those records includes this one, so a change to a struct
// that moves a field fails to compile until the change is made on purpose here.
#pragma once

#include <cstddef>

#include "zerotrace/cuda_abi.h"

static_assert(sizeof(zt_cuda_call_event) == 240);
static_assert(offsetof(zt_cuda_call_event, start_ns) == 24);
static_assert(offsetof(zt_cuda_call_event, function) == 40);
static_assert(offsetof(zt_cuda_call_event, grid) == 80);
static_assert(offsetof(zt_cuda_call_event, flags) == 108);
static_assert(offsetof(zt_cuda_call_event, stack) == 112);

static_assert(sizeof(zt_cuda_symbol_event) == 1072);
static_assert(offsetof(zt_cuda_symbol_event, handle) == 32);
static_assert(offsetof(zt_cuda_symbol_event, name) == 48);

static_assert(sizeof(zt_cupti_batch_event) == 32);
static_assert(offsetof(zt_cupti_batch_event, bytes) == 24);

static_assert(sizeof(zt_cupti_batch_header) == 32);
static_assert(offsetof(zt_cupti_batch_header, records) == 8);
static_assert(offsetof(zt_cupti_batch_header, sequence) == 16);
static_assert(offsetof(zt_cupti_batch_header, dropped) == 24);

// Records are laid end to end in a batch: each a multiple of 8 bytes, its 8-byte fields aligned.
static_assert(sizeof(zt_cupti_record_header) == 8);
static_assert(offsetof(zt_cupti_record_header, correlation_id) == 4);

static_assert(sizeof(zt_cupti_api_record) == 48);
static_assert(offsetof(zt_cupti_api_record, start_ns) == 8);
static_assert(offsetof(zt_cupti_api_record, tid) == 24);
static_assert(offsetof(zt_cupti_api_record, domain) == 40);

static_assert(sizeof(zt_cupti_kernel_record) == 88);
static_assert(offsetof(zt_cupti_kernel_record, stream_id) == 24);
static_assert(offsetof(zt_cupti_kernel_record, grid) == 40);
static_assert(offsetof(zt_cupti_kernel_record, name_len) == 80);

static_assert(sizeof(zt_cupti_memcpy_record) == 56);
static_assert(offsetof(zt_cupti_memcpy_record, bytes) == 24);
static_assert(offsetof(zt_cupti_memcpy_record, copy_kind) == 48);

static_assert(sizeof(zt_cupti_memset_record) == 56);
static_assert(offsetof(zt_cupti_memset_record, value) == 48);

static_assert(sizeof(zt_cupti_sync_record) == 40);
static_assert(offsetof(zt_cupti_sync_record, context_id) == 32);

static_assert(sizeof(zt_cupti_status_record) == 24);
static_assert(offsetof(zt_cupti_status_record, clock_offset_ns) == 16);
