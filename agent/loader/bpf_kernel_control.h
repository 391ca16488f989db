// The pipeline's KernelControl carried out by the loaded BPF programs (conn_ctl_map).
#pragma once

#include "loader/bpf_loader.h"
#include "pipeline/kernel_control.h"

namespace zt::loader {

class BpfKernelControl final : public pipeline::KernelControl {
 public:
  explicit BpfKernelControl(BpfLoader& loader) : loader_(loader) {}
  void disable_connection(const pipeline::ConnectionInfo& conn) override { loader_.disable_connection(conn.conn_id); }
  void skip(const pipeline::ConnectionInfo& conn, protocols::Direction dir, std::uint64_t until_position) override {
    loader_.skip_payload(conn.conn_id, static_cast<zt_direction>(dir), until_position);
  }

 private:
  BpfLoader& loader_;
};

}  // namespace zt::loader
