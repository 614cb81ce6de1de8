"""An error in one of the chain's parts refuses the request: the site sees nothing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import httpx

from tests.e2e.clients import client
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess


class RaisingProxy(LeewayProcess):
    """The real proxy, started through tests/e2e/raising_proxy.py."""

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "tests.e2e.raising_proxy",
            "--db-url", self.db_url,
            "--listen-port", str(self.port),
            "--metrics-port", str(self.metrics_port),
            "--confdir", str(self.confdir),
            *self.args,
        ]  # fmt: skip


def test_a_part_that_raises_gets_the_request_refused_and_the_site_sees_nothing(
    tmp_path: Path, people: str, http_origin: Origin, mitmproxy_ca: Path
) -> None:
    proxy = RaisingProxy(tmp_path, people)
    shutil.copytree(mitmproxy_ca, proxy.confdir)
    proxy.start()
    try:
        with client(proxy) as http:
            answer = http.get(f"http://www.example.org:{http_origin.port}/page")
        metrics = httpx.get(f"http://127.0.0.1:{proxy.metrics_port}/metrics").text
    finally:
        assert proxy.stop() == 0
    assert answer.status_code == 503
    assert answer.text.startswith("Leeway could not check this request. Reference ")
    reference = answer.text.removesuffix(".\n").rsplit(" ", 1)[1]
    assert http_origin.seen == [], "the site was contacted"
    log = proxy.log()
    assert f"ref {reference}: Raising.requestheaders failed: test part raising" in log
    assert "LookupError" in log
    assert 'leeway_addon_errors_total{hook="requestheaders"} 1.0' in metrics
