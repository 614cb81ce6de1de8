"""How fast `Policy.decide()` is with the bundled policy and realistic subjects.

Target (issue 2): at least 200,000 decisions per second on one core, host
normalisation included. Prints decisions/s and the p50/p99 latency of one call.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from policy import Request, Subject, load_default_policy
from policy.subject import Acknowledgement, Grant

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TARGET = 200_000

CATEGORISED = [
    "www.facebook.com",
    "scontent-lhr8-1.xx.fbcdn.net",
    "static.xx.fbcdn.net:443",
    "pbs.twimg.com",
    "x.com",
    "www.linkedin.com",
    "media.licdn.com",
    "www.youtube.com",
    "i.ytimg.com",
    "rr3---sn-aigl6nze.googlevideo.com",
    "WWW.Instagram.COM",
    "f.vimeocdn.com",
]
UNCATEGORISED = [
    "www.gov.uk",
    "api.github.com",
    "login.microsoftonline.com",
    "outlook.office365.com:443",
    "en.wikipedia.org",
    "cdn.jsdelivr.net",
    "intranet.example.org",
    "10.1.2.3",
]


def subjects() -> list[Subject]:
    day = timedelta(days=1)
    basics: dict[str, tuple[datetime, ...]] = {
        "social-media-basics": (NOW - 400 * day, NOW - 30 * day)
    }
    return [
        Subject.anonymous("visitor"),
        Subject("staff", True, "Finance", completions=basics),
        Subject(
            "press",
            True,
            "Communications",
            completions={**basics, "social-media-publishing": (NOW - 10 * day,)},
            grants=(Grant("comms-publisher", NOW - 90 * day, NOW + 90 * day),),
        ),
        Subject(
            "reader",
            True,
            "Policy",
            acknowledgements=(
                Acknowledgement("social", NOW - timedelta(hours=1), NOW + 7 * timedelta(hours=1)),
            ),
        ),
    ]


def workload(n: int, rng: random.Random) -> list[tuple[Subject, Request]]:
    people = subjects()
    hosts = CATEGORISED + UNCATEGORISED
    # Many distinct names per site, as real traffic has (CDN shards, tenants).
    shards = [f"shard{i}.{rng.choice(hosts).split(':')[0]}" for i in range(2000)]
    methods = ["GET"] * 8 + ["POST", "HEAD"]
    return [
        (rng.choice(people), Request(rng.choice(methods), (rng.choice(hosts + shards),)))
        for _ in range(n)
    ]


def main() -> None:
    policy = load_default_policy()
    work = workload(400_000, random.Random(7))
    decide = policy.decide
    for subject, request in work[:20_000]:
        decide(subject, request, NOW)
    # CPU time of this process: the figure is per core even when the machine is busy.
    start = time.process_time()
    for subject, request in work:
        decide(subject, request, NOW)
    rate = len(work) / (time.process_time() - start)
    clock = time.perf_counter_ns
    samples = []
    for subject, request in work[:100_000]:
        t0 = clock()
        decide(subject, request, NOW)
        samples.append(clock() - t0)
    cuts = statistics.quantiles(samples, n=100)
    verdict = "meets" if rate >= TARGET else "MISSES"
    print("policy engine: decide() with host normalisation, bundled policy")
    print(f"  {rate:,.0f} decisions/s on one core ({verdict} the {TARGET:,}/s target)")
    print(f"  latency p50 {cuts[49] / 1000:.2f} µs, p99 {cuts[98] / 1000:.2f} µs")


if __name__ == "__main__":
    main()
