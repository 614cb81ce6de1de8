"""The proxy starts, decides, and passes uncategorised traffic through."""

from __future__ import annotations

from tests.e2e.certs import OriginCerts
from tests.e2e.clients import PAGE, client
from tests.e2e.conftest import StartProxy
from tests.e2e.origin import Origin


def test_untrained_user_gets_the_warning_page_over_https(
    start_proxy: StartProxy, https_origin: Origin, origin_certs: OriginCerts
) -> None:
    proxy = start_proxy()
    with client(proxy, origin_certs.ca) as http:
        page = http.get(f"https://www.facebook.com:{https_origin.port}/", headers=PAGE)
        other = http.get(f"https://www.example.org:{https_origin.port}/x", headers=PAGE)
    assert page.status_code == 403
    assert "Before you continue to www.facebook.com" in page.text
    assert page.headers["x-leeway-decision"].startswith("warn;")
    assert https_origin.requests_for("www.facebook.com") == []
    assert other.status_code == 200
    assert other.json()["origin"] is True
