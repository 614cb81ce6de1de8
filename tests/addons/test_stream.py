"""Tests for addons.stream: its reading of the headers agrees with mitmproxy's framing."""

from __future__ import annotations

import pytest
from mitmproxy import http
from mitmproxy.net.http.http1 import expected_http_body_size
from mitmproxy.test import tutils

from addons.stream import STREAM_ABOVE, should_stream

BIG = str(STREAM_ABOVE + 1)
HEADERS = [
    pytest.param((), id="no framing headers"),
    pytest.param((("Content-Length", "0"),), id="empty body"),
    pytest.param((("Content-Length", "1234"),), id="small body"),
    pytest.param((("content-length", str(STREAM_ABOVE)),), id="at the limit"),
    pytest.param((("Content-Length", BIG),), id="large body"),
    pytest.param((("Content-Length", "12"), ("Content-Length", "12")), id="repeated length"),
    pytest.param((("Content-Length", "12"), ("Content-Length", BIG)), id="lengths disagree"),
    pytest.param((("Content-Length", "0012"),), id="leading zeros"),
    pytest.param((("Content-Length", " 12"),), id="space in the length"),
    pytest.param((("Content-Length", "-1"),), id="negative length"),
    pytest.param((("Content-Length", "9" * 40),), id="absurd length"),
    pytest.param((("Transfer-Encoding", "chunked"),), id="chunked"),
    pytest.param((("Content-Length", "12"), ("Transfer-Encoding", "chunked")), id="both"),
    pytest.param((("Transfer-Encoding", "gzip"),), id="gzip without length"),
    pytest.param((("Transfer-Encoding", "bogus"),), id="unknown encoding"),
]


def expected(request: http.Request, response: http.Response | None) -> bool:
    """mitmproxy's own reading of the framing, which `should_stream` shortcuts."""
    try:
        size = expected_http_body_size(request, response)
    except ValueError:
        return False
    return size is None or size < 0 or size > STREAM_ABOVE


def headers(pairs: tuple[tuple[str, str], ...]) -> http.Headers:
    return http.Headers([(k.encode(), v.encode()) for k, v in pairs])


@pytest.mark.parametrize("pairs", HEADERS)
@pytest.mark.parametrize("method", ["GET", "POST", "HEAD", "CONNECT"])
def test_requests_stream_as_mitmproxy_frames_them(
    pairs: tuple[tuple[str, str], ...], method: str
) -> None:
    request = tutils.treq(method=method.encode(), headers=headers(pairs), content=None)
    assert should_stream(request) is expected(request, None)


@pytest.mark.parametrize("pairs", HEADERS)
@pytest.mark.parametrize(
    ("method", "status"),
    [("GET", 200), ("HEAD", 200), ("GET", 204), ("GET", 304), ("CONNECT", 200)],
)
def test_responses_stream_as_mitmproxy_frames_them(
    pairs: tuple[tuple[str, str], ...], method: str, status: int
) -> None:
    request = tutils.treq(method=method.encode(), headers=headers(()), content=None)
    response = tutils.tresp(status_code=status, headers=headers(pairs), content=None)
    assert should_stream(request, response) is expected(request, response)
