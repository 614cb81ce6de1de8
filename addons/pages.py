"""The pages people see: the warning interstitial, the block page and short refusals.

The pages are Jinja2 templates (`addons/templates/`, or an operator's own: see
`addons.page_templates`), self-contained (no external assets, no JavaScript) and escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from addons.page_templates import Samples, Templates, bundled

DEFAULT_PORTAL_URL = "http://leeway.internal/"
JUSTIFICATION_MAX = 500


@dataclass(frozen=True, slots=True)
class Course:
    title: str
    url: str

    @property
    def link(self) -> str | None:
        """The URL if it is a web link: a "javascript:" URL in a policy file must not run."""
        return self.url if urlsplit(self.url).scheme.lower() in ("http", "https") else None


@dataclass(frozen=True, slots=True)
class PageFacts:
    """What a page says: the site, its category, why, and what would lift the restriction."""

    host: str
    category: str
    guidance: tuple[str, ...]
    reason: str
    courses: tuple[Course, ...]
    roles: tuple[str, ...] = ()
    reference: str = ""
    renewal: bool = False
    write: bool = False


@dataclass(frozen=True, slots=True)
class ContinueForm:
    action: str
    token: str
    next: str


@dataclass(frozen=True, slots=True)
class RequestForm:
    """The block page's form to ask for one of `roles` for `category` (posted to `action`).
    `justification` and `error` show a refused attempt again."""

    action: str
    token: str
    category: str
    roles: tuple[str, ...]
    justification: str = ""
    error: str = ""
    max_length: int = JUSTIFICATION_MAX


# Both pages answer 403: the page asked for was not served. A 200 would be heuristically
# cacheable (RFC 9111 4.2.2) and, worse, a site's service worker (Workbox caches statuses
# 0 and 200) could store the interstitial as the site's own page. Browsers render a 403's
# body as any page, and non-browser clients see a failure, which is the truth.
WARN_STATUS = 403
BLOCK_STATUS = 403
REFUSAL_STATUS = 403

# An operator's logo may be a data: URI (`brand.html`); nothing loads from elsewhere.
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "base-uri 'none'"
)
# The headers of every answer of Leeway's own, page or refusal (`addons.respond` sets
# them): never stored, never sniffed as another type. The pages add theirs to these.
ANSWER_HEADERS: tuple[tuple[str, str], ...] = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
)
_PAGE_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    *ANSWER_HEADERS,
    ("Referrer-Policy", "no-referrer"),
)
# The warning page may not be framed: another site could frame it and trick a click on
# Continue (clickjacking); the token alone does not prevent that.
WARN_HEADERS: tuple[tuple[str, str], ...] = (
    *_PAGE_HEADERS,
    ("Content-Security-Policy", f"{_CSP}; frame-ancestors 'none'"),
)
BLOCK_HEADERS: tuple[tuple[str, str], ...] = (*_PAGE_HEADERS, ("Content-Security-Policy", _CSP))


def warn_page(
    facts: PageFacts,
    form: ContinueForm,
    *,
    templates: Templates | None = None,
    portal_url: str = DEFAULT_PORTAL_URL,
) -> tuple[int, str]:
    """The interstitial: guidance, the reason, the courses, and one Continue button."""
    form = replace(form, next=safe_next(form.next))
    page = (templates or bundled()).render(
        "warn.html", facts=facts, form=form, portal_url=portal_url
    )
    return WARN_STATUS, page


def block_page(
    facts: PageFacts,
    *,
    request_form: RequestForm | None = None,
    templates: Templates | None = None,
    portal_url: str = DEFAULT_PORTAL_URL,
) -> tuple[int, str]:
    """The block page: why, which course or role would give access, and maybe a form to
    ask for the role."""
    page = (templates or bundled()).render(
        "block.html", facts=facts, request_form=request_form, portal_url=portal_url
    )
    return BLOCK_STATUS, page


_SAMPLE_FACTS = PageFacts(
    host="www.example.com",
    category="social",
    guidance=("If in doubt, don't post it.",),
    reason="You have not completed Social media basics yet.",
    courses=(Course("Social media basics", "https://learning.example.org/smb"),),
    roles=("comms-publisher",),
    reference="ABC123",
)
_BARE_FACTS = replace(_SAMPLE_FACTS, guidance=(), reason="", courses=(), roles=(), reference="")
_SAMPLE_FORM = ContinueForm("/.well-known/leeway/continue", "token", "/")
_SAMPLE_REQUEST = RequestForm("http://leeway.internal/requests", "token", "social", ("a",))
# Each branch of the bundled pages, for the check of an operator's templates at start.
PAGE_SAMPLES: Samples = {
    "warn.html": [
        {"facts": facts, "form": _SAMPLE_FORM, "portal_url": DEFAULT_PORTAL_URL}
        for facts in (
            _SAMPLE_FACTS,
            _BARE_FACTS,
            replace(_SAMPLE_FACTS, renewal=True),
            replace(_SAMPLE_FACTS, write=True),
        )
    ],
    "block.html": [
        {"facts": facts, "request_form": form, "portal_url": DEFAULT_PORTAL_URL}
        for facts, form in (
            (_SAMPLE_FACTS, None),
            (replace(_SAMPLE_FACTS, write=True), None),
            (_BARE_FACTS, None),
            (_SAMPLE_FACTS, _SAMPLE_REQUEST),
            (_SAMPLE_FACTS, replace(_SAMPLE_REQUEST, roles=("a", "b"), error="Too long.")),
        )
    ],
}


def short_refusal(facts: PageFacts, *, action: str, accept: str) -> tuple[int, bytes, str]:
    """A 403 for what is not a page load: JSON if the client accepts it, else one text line."""
    action = str(action)
    if action not in ("warn", "block"):
        raise ValueError(f"refusal action must be 'warn' or 'block', not {action!r}")
    if _wants_json(accept):
        document = {
            "error": f"leeway_{action}",
            "action": action,
            "host": facts.host,
            "category": facts.category,
            "reason": facts.reason,
            "reference": facts.reference,
        }
        return REFUSAL_STATUS, json.dumps(document).encode(), "application/json"
    line = _refusal_line(facts, action)
    return REFUSAL_STATUS, f"{line}\n".encode(), "text/plain; charset=utf-8"


def is_page_load(method: str, headers: Mapping[str, str]) -> bool:
    """Whether a request loads a page a person will read (and so may get the interstitial).

    `headers` must look names up case-insensitively (mitmproxy's `Headers` does), or have
    lower-case keys. Fetch metadata decides when present; older clients are judged by a
    GET that accepts HTML.
    """
    method = method.upper()
    if method not in ("GET", "POST"):
        return False
    if headers.get("x-requested-with", "").lower() == "xmlhttprequest":
        return False
    mode = headers.get("sec-fetch-mode")
    if mode is not None:
        return mode.lower() == "navigate"
    return method == "GET" and "text/html" in headers.get("accept", "").lower()


def safe_next(value: str) -> str:
    """`value` if it is a path on this host (no scheme, no `//host`), else `/`.

    The Continue handler redirects to it, so it must not become an open redirect.
    """
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(c.isspace() or not c.isprintable() for c in value):
        return "/"
    return value


def _wants_json(accept: str) -> bool:
    accept = accept.lower()
    return "application/json" in accept or "+json" in accept


def _refusal_line(facts: PageFacts, action: str) -> str:
    host, category, reason = (_one_line(t) for t in (facts.host, facts.category, facts.reason))
    if action == "warn":
        what = f"{host} ({category}) shows a notice first: open it in a browser tab to continue."
    else:
        what = f"{'Posting to' if facts.write else 'Access to'} {host} ({category}) is blocked."
    reference = f" Reference: {_one_line(facts.reference)}." if facts.reference else ""
    return f"Leeway: {what} {reason}{reference}".rstrip()


def _one_line(text: str) -> str:
    return " ".join(text.split())
