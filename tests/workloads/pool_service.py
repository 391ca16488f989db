# A chain link (chain_service.py) whose handler makes its downstream call on another thread:
#
#   pool_service.py --name NAME --next URL [--workers N] [--port PORT | PORT]
#       a ThreadPoolExecutor started with the server, its workers running before any request;
#       each worker keeps one keep-alive connection to the next service
#   pool_service.py --name NAME --next URL --thread-per-call [--port PORT | PORT]
#       a new thread per call, joined by the handler, on a connection of its own
#
# Both hand the request to a thread that the kernel cannot tie to it in the pool case (the
# workers already exist), and can in the thread-per-call case (the serving thread creates it).
import threading
from concurrent.futures import ThreadPoolExecutor

import chain_service


def add_options(parser):
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--thread-per-call", action="store_true")


def started_pool(workers):
    """A pool whose every worker thread exists already."""
    pool = ThreadPoolExecutor(max_workers=workers)
    # An idle worker takes the next task, so one no-op would start one thread: tasks that wait
    # for each other make the pool start all of them.
    barrier = threading.Barrier(workers)
    for f in [pool.submit(barrier.wait) for _ in range(workers)]:
        f.result()
    return pool


def on_new_thread(call):
    def run():
        result = {}

        def target():
            try:
                result["body"] = call()
            except Exception as e:
                result["error"] = e

        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["body"]

    return run


def main():
    args = chain_service.parse_args("A chain link that calls the next service from another thread.", extra=add_options)
    if not args.next:
        raise SystemExit("--next is required")
    next_service = chain_service.NextService(args.next)
    if args.thread_per_call:
        call_next = on_new_thread(next_service.call_once)
    else:
        pool = started_pool(args.workers)
        call_next = lambda: pool.submit(next_service.call).result()
    chain_service.serve(chain_service.handler_class(args.name, call_next), args.port)


if __name__ == "__main__":
    main()
