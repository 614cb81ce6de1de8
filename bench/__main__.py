"""`python -m bench`: run every benchmark in turn and print its figures."""

from __future__ import annotations

import importlib

BENCHMARKS = ["bench.engine", "bench.store", "bench.imports", "bench.proxy", "bench.workers"]

for name in BENCHMARKS:
    print(f"== {name}", flush=True)
    importlib.import_module(name).main()
    print(flush=True)
