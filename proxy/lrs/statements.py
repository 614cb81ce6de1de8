"""xAPI statements sorted into completions, voidings and skips, each skip with its reason.

Pure: no database and no network. Who the actor is and which module an activity counts for
come from the `Directory` and the policy's activity map passed in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Mapping

VOIDED = "http://adlnet.gov/expapi/verbs/voided"
SkipReason = Literal[
    "malformed",
    "other_verb",
    "not_successful",
    "unknown_activity",
    "unknown_actor",
    "untrusted_authority",
]
SKIP_REASONS: tuple[SkipReason, ...] = get_args(SkipReason)


@dataclass(frozen=True, slots=True)
class Directory:
    """Who statements can name: by e-mail (lower-case), its mailbox SHA-1, or account name."""

    by_email: Mapping[str, int]
    by_sha1: Mapping[str, int]
    by_username: Mapping[str, int]
    account_home_page: str | None = None


@dataclass(frozen=True, slots=True)
class Completed:
    statement_id: str
    user_id: int
    module: str
    completed_at: datetime


@dataclass(frozen=True, slots=True)
class Voiding:
    statement_id: str
    target_id: str


@dataclass(frozen=True, slots=True)
class Skipped:
    statement_id: str  # may be empty: a statement without an id
    reason: SkipReason
    detail: str  # the actor (for unknown_actor), activity, verb, or what is malformed


Outcome = Completed | Voiding | Skipped


class Malformed(ValueError):
    """A statement that does not have the shape xAPI 1.0.3 gives it."""


def mailbox_sha1(email: str) -> str:
    """The `mbox_sha1sum` of `email`: SHA-1 of its `mailto:` IRI, lower-case hex."""
    return hashlib.sha1(f"mailto:{email.lower()}".encode()).hexdigest()  # noqa: S324


def classify(
    statement: Any,
    directory: Directory,
    activities: Mapping[str, str],
    verbs: frozenset[str],
    authorities: frozenset[str] = frozenset(),
) -> Outcome:
    """What one statement means for Leeway; never raises. `authorities` (agents as
    `agent_ids` writes them): when given, statements vouched for by anyone else count for
    nothing, voidings included."""
    statement_id = _text(statement.get("id")) if isinstance(statement, dict) else ""
    try:
        return _classify(statement, directory, activities, verbs, authorities)
    except Malformed as e:
        return Skipped(statement_id, "malformed", str(e))


def agent_ids(agent: object) -> set[str]:
    """How an agent (or each member of a group) can be named in `--lrs-authority`:
    `mailto:ADDRESS` (lower-case) or `account:NAME@HOMEPAGE`."""
    if not isinstance(agent, dict):
        return set()
    if agent.get("objectType") == "Group":
        members = agent.get("member")
        return set().union(*map(agent_ids, members)) if isinstance(members, list) else set()
    found = set()
    if isinstance(mbox := agent.get("mbox"), str):
        found.add(mbox.lower())
    account = agent.get("account")
    if isinstance(account, dict):
        found.add(f"account:{account.get('name')}@{account.get('homePage')}")
    return found


def _classify(
    statement: Any,
    directory: Directory,
    activities: Mapping[str, str],
    verbs: frozenset[str],
    authorities: frozenset[str],
) -> Outcome:
    if not isinstance(statement, dict):
        raise Malformed(f"a statement is a JSON object, got {type(statement).__name__}")
    statement_id = _required(statement, "id")
    if authorities and not (vouched := agent_ids(statement.get("authority"))) & authorities:
        detail = ", ".join(sorted(vouched)) or "no authority"
        return Skipped(statement_id, "untrusted_authority", detail)
    verb = _required(_object(statement, "verb"), "id")
    target = _object(statement, "object")
    if verb == VOIDED:
        if target.get("objectType") != "StatementRef":
            raise Malformed("a voiding statement's object must be a StatementRef")
        return Voiding(statement_id, _required(target, "id"))
    if verb not in verbs:
        return Skipped(statement_id, "other_verb", verb)
    if _unsuccessful(statement.get("result")):
        return Skipped(statement_id, "not_successful", verb)
    activity = _required(target, "id")
    module = activities.get(activity)
    if module is None:
        return Skipped(statement_id, "unknown_activity", activity)
    actor = _object(statement, "actor")
    user = _user(actor, directory)
    if user is None:
        return Skipped(statement_id, "unknown_actor", describe_actor(actor))
    return Completed(statement_id, user, module, _when(statement))


def _unsuccessful(result: object) -> bool:
    if result is None:
        return False
    if not isinstance(result, dict):
        raise Malformed("result must be an object")
    return result.get("success") is False or result.get("completion") is False


def _user(actor: dict[str, Any], directory: Directory) -> int | None:
    mbox = actor.get("mbox")
    if isinstance(mbox, str) and mbox.lower().startswith("mailto:"):
        return directory.by_email.get(mbox[len("mailto:") :].lower())
    sha1 = actor.get("mbox_sha1sum")
    if isinstance(sha1, str):
        return directory.by_sha1.get(sha1.lower())
    account = actor.get("account")
    if isinstance(account, dict) and directory.account_home_page is not None:
        name, home = account.get("name"), account.get("homePage")
        if isinstance(name, str) and home == directory.account_home_page:
            return directory.by_username.get(name)
    return None


def describe_actor(actor: dict[str, Any]) -> str:
    """The actor as HR would look them up: mailbox, mailbox hash, or home page and account."""
    for key in ("mbox", "mbox_sha1sum", "openid"):
        if isinstance(actor.get(key), str):
            return str(actor[key])
    account = actor.get("account")
    if isinstance(account, dict):
        return f"{account.get('homePage')} account {account.get('name')}"
    return "an actor without an identifier"


def _when(statement: dict[str, Any]) -> datetime:
    """`timestamp`, else `stored`: when the learner completed, as UTC."""
    for key in ("timestamp", "stored"):
        value = statement.get(key)
        if isinstance(value, str):
            return parse_time(value, key)
    raise Malformed("neither timestamp nor stored is given")


def parse_time(value: str, key: str) -> datetime:
    """An xAPI timestamp (ISO 8601; `Z` or an offset; none is read as UTC) as UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Malformed(f"{key} {value[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _object(statement: dict[str, Any], key: str) -> dict[str, Any]:
    value = statement.get(key)
    if not isinstance(value, dict):
        raise Malformed(f"{key} must be an object")
    return value


def _required(table: dict[str, Any], key: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise Malformed(f"{key} is missing or not a string")
    return value


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
