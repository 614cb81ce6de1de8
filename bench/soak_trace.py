"""`bench.soak --trace`: run a proxy with tracemalloc, and report what grew on a signal.

`python -m bench.soak_trace OUT leeway|mitmdump ARGS...` runs `leeway ARGS` or `mitmdump
ARGS` in this process. The first TRACE_SIGNAL takes the baseline; each later one writes
to OUT the allocation sites that grew most since then, and the object types whose count grew.
Bench tooling only: the proxy's own code knows nothing of it.
"""

from __future__ import annotations

import collections
import gc
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import TextIO

TOP = 25
FRAMES = 6
# Not SIGUSR1/2: mitmdump takes those for its own debug dumps (mitmproxy.utils.debug).
TRACE_SIGNAL = signal.SIGRTMIN + 3


class Tracer:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.baseline: tracemalloc.Snapshot | None = None
        self.types: collections.Counter[str] = collections.Counter()

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        types = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        if self.baseline is None:
            self.baseline, self.types = snapshot, types
            return
        partial = self.out.with_suffix(".partial")
        with partial.open("w") as out:
            self.write(out, snapshot, types)
        partial.replace(self.out)  # whole, for the bench waiting on it

    def write(
        self, out: TextIO, snapshot: tracemalloc.Snapshot, types: collections.Counter[str]
    ) -> None:
        assert self.baseline is not None
        print(f"--- {time.strftime('%H:%M:%S')}: growth since the baseline", file=out)
        for stat in snapshot.compare_to(self.baseline, "traceback")[:TOP]:
            print(f"{stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+8d} blocks", file=out)
            for line in stat.traceback.format()[-2 * FRAMES :]:
                print(f"      {line.strip()}", file=out)
        grown = {k: types[k] - self.types.get(k, 0) for k in types}
        for name, diff in sorted(grown.items(), key=lambda kv: -kv[1])[:TOP]:
            print(f"  objects {name}: {diff:+d} (now {types[name]})", file=out)


def signal_tracers(processes: list[subprocess.Popen[bytes]]) -> None:
    """The first call takes the baselines; each later one, a report."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(TRACE_SIGNAL)


def print_traces(work: Path, processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """Print each tracer's report, waiting for it: a snapshot of a big heap takes a while."""
    deadline = time.monotonic() + 300
    for name, process in processes.items():
        path = work / f"{name}.trace"
        while not path.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(1)
        text = path.read_text() if path.exists() else "(no trace written)\n"
        print(f"  tracemalloc, {name}:\n{text}")


def main() -> int:
    out, which, *args = sys.argv[1:]
    tracemalloc.start(FRAMES)
    tracer = Tracer(Path(out))
    signal.signal(TRACE_SIGNAL, tracer.on_signal)
    if which == "mitmdump":
        from mitmproxy.tools.main import mitmdump

        mitmdump(args)
        return 0
    from proxy.cli import main as leeway

    return leeway(args)


if __name__ == "__main__":
    sys.exit(main())
