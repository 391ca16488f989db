# The HTTPS test server (http_server.py --tls) under a seccomp filter that kills the process on
# the uretprobe syscall (x86-64: 335), the way strict sandboxes (systemd, container runtimes)
# forbid syscalls they do not know. Kernels from 6.11 return from a uretprobe through that
# syscall; without the fix that lets it pass seccomp (6.12.y/6.13+), this process would die at
# the first traced TLS call's return.
# usage: seccomp_https_server.py CERT KEY PORT
import ctypes
import os
import runpy
import sys

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_KILL_PROCESS = 0x80000000
URETPROBE_X86_64 = 335

seccomp = ctypes.CDLL("libseccomp.so.2", use_errno=True)
seccomp.seccomp_init.restype = ctypes.c_void_p
seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
seccomp.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
ctx = seccomp.seccomp_init(SCMP_ACT_ALLOW)
if not ctx or seccomp.seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, URETPROBE_X86_64, 0) != 0 or seccomp.seccomp_load(ctx) != 0:
    sys.exit("seccomp: cannot install the filter")
with open(f"/proc/{os.getpid()}/status") as status:
    mode = [line.split()[1] for line in status if line.startswith("Seccomp:")][0]
if mode != "2":
    sys.exit("seccomp: filter mode not active")
sys.argv = [os.path.join(os.path.dirname(__file__), "http_server.py"), "--tls"] + sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
