"""`python -m bench`: run every benchmark in turn and print its figures."""

from __future__ import annotations

import importlib

# bench.soak runs for 30 minutes: `python -m bench.soak --minutes N` for a shorter one.
BENCHMARKS = [
    "bench.engine",
    "bench.store",
    "bench.imports",
    "bench.users_sync",
    "bench.proxy",
    "bench.proxyauth",
    "bench.workers",
    "bench.lrs_sync",
    "bench.soak",
]

for name in BENCHMARKS:
    print(f"== {name}", flush=True)
    importlib.import_module(name).main()
    print(flush=True)
