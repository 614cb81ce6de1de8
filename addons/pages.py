"""The pages people see: the warning interstitial, the block page and short refusals.

Pure and self-contained (no external assets, no JavaScript); every printed value is escaped.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Course:
    title: str
    url: str


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


# Both pages answer 403: the page asked for was not served. A 200 would be heuristically
# cacheable (RFC 9111 4.2.2) and, worse, a site's service worker (Workbox caches statuses
# 0 and 200) could store the interstitial as the site's own page. Browsers render a 403's
# body as any page, and non-browser clients see a failure, which is the truth.
WARN_STATUS = 403
BLOCK_STATUS = 403
REFUSAL_STATUS = 403

_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"
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

_CSS = (
    "body{font-family:system-ui,sans-serif;line-height:1.5;margin:0;"
    "background:#f3f3f0;color:#1d1d1b}"
    "main{max-width:40rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;"
    "border-radius:8px}"
    "h1{font-size:1.5rem;margin-top:0}h2{font-size:1.1rem;margin-bottom:.25rem}"
    "a{color:#1a5fb4}.ref{color:#555;font-size:.9rem}"
    "button{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:6px;"
    "background:#1a5fb4;color:#fff;cursor:pointer}"
)
_PAGE = Template(
    "<!doctype html>\n"
    '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
    '<meta name="referrer" content="no-referrer">\n'
    "<title>$title</title>\n<style>$css</style>\n</head>\n"
    "<body>\n<main>\n<h1>$title</h1>\n$body</main>\n</body>\n</html>\n"
)
_FORM = Template(
    '<form method="post" action="$action">\n'
    '<input type="hidden" name="token" value="$token">\n'
    '<input type="hidden" name="next" value="$next">\n'
    '<p><button type="submit">Continue to $host</button></p>\n</form>\n'
)


def warn_page(facts: PageFacts, form: ContinueForm) -> tuple[int, str]:
    """The interstitial: guidance, the reason, the courses, and one Continue button."""
    host, category = _e(facts.host), _e(facts.category)
    if facts.renewal:
        title = f"Renew your training to keep using {host}"
        intro = f"You can still use {host}, a site in the <strong>{category}</strong> category."
        courses_heading = "Renew your training"
    else:
        verb = "post to" if facts.write else "continue to"
        title = f"Before you {verb} {host}"
        intro = f"{host} is a site in the <strong>{category}</strong> category."
        courses_heading = "To stop seeing this page, complete"
    parts = [_p(intro), _p(_e(facts.reason))]
    if facts.write:
        parts.append(_p("Nothing has been sent yet: after you continue, send it again."))
    parts.append(_section("Please keep in mind", [_e(g) for g in facts.guidance]))
    parts.append(_section(courses_heading, [_course(c) for c in facts.courses]))
    parts.append(_continue(form, host))
    parts.append(_p("When you continue, we note that you have read this notice.", "ref"))
    parts.append(_reference(facts.reference))
    return WARN_STATUS, _page(title, parts)


def block_page(facts: PageFacts) -> tuple[int, str]:
    """The block page: why, and which course or role would give access."""
    host, category = _e(facts.host), _e(facts.category)
    title = f"Posting to {host} is blocked" if facts.write else f"Access to {host} is blocked"
    remedies = [f"Complete the course {_course(c)}." for c in facts.courses]
    remedies += [f"Ask your manager for the <strong>{_e(r)}</strong> role." for r in facts.roles]
    parts = [
        _p(f"{host} is a site in the <strong>{category}</strong> category."),
        _p(_e(facts.reason)),
        _section("What would give you access", remedies)
        or _p("No course or role gives access. If you need it for your work, ask the help desk."),
        _reference(facts.reference),
    ]
    return BLOCK_STATUS, _page(title, parts)


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


def _page(title: str, parts: list[str]) -> str:
    return _PAGE.substitute(title=title, css=_CSS, body="".join(parts))


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _p(inner: str, cls: str = "") -> str:
    attribute = f' class="{cls}"' if cls else ""
    return f"<p{attribute}>{inner}</p>\n" if inner else ""


def _section(heading: str, items: list[str]) -> str:
    """A heading and a list of already-escaped items; nothing when there are none."""
    if not items:
        return ""
    lines = "".join(f"<li>{item}</li>\n" for item in items)
    return f"<h2>{heading}</h2>\n<ul>\n{lines}</ul>\n"


def _course(course: Course) -> str:
    # Only web links become links: a "javascript:" URL in a policy file must not run.
    if urlsplit(course.url).scheme.lower() not in ("http", "https"):
        return _e(course.title)
    return f'<a href="{_e(course.url)}" rel="noreferrer">{_e(course.title)}</a>'


def _continue(form: ContinueForm, host: str) -> str:
    return _FORM.substitute(
        action=_e(form.action), token=_e(form.token), next=_e(safe_next(form.next)), host=host
    )


def _reference(reference: str) -> str:
    if not reference:
        return _p("If you need help, contact the help desk.", "ref")
    return _p(
        f"If you need help, quote reference <strong>{_e(reference)}</strong> to the help desk.",
        "ref",
    )


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
