"""The one runner of the bypass tables, as a fixture: a row, tried on the right proxy."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.bypass.technique import Outcome, Technique, attempt, requests_at
from tests.e2e.origin import Origin
from tests.e2e.proxy_process import LeewayProcess

type Attack = Callable[[Technique], Outcome]


@pytest.fixture
def attack(
    auth_proxy: LeewayProcess,
    open_proxy: LeewayProcess,
    http_origin: Origin,
    https_origin: Origin,
) -> Attack:
    """Try a row: on `auth_proxy` as its user (`open_proxy` if it has none), with the TLS
    site behind a CONNECT and the plain one otherwise."""

    def run(row: Technique) -> Outcome:
        proxy = open_proxy if row.user is None else auth_proxy
        site = https_origin if row.connect else http_origin
        return attempt(proxy, site.port, requests_at(site), row)

    return run
