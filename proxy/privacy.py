"""The rule that keeps small groups from being singled out, for metrics and reports alike.

One rule, so that `other` holds the same people in a report and in the metrics' department
label: with two rules, comparing the two would tell who is in the difference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

OTHER = "other"


def fold_departments(sizes: Mapping[str | None, int], k: int) -> dict[str | None, str]:
    """Each department (None: no department) -> the group it is shown in: itself or `other`.

    A department with fewer than `k` users is `other`, with the users without one. While
    `other` would hold between 1 and k-1 users, the smallest named department (by size,
    then name) folds into it too, so that `other` cannot be worked out by subtraction.
    """
    named = {d: n for d, n in sizes.items() if d is not None and d != OTHER and n >= k}
    other = sum(sizes.values()) - sum(named.values())
    while 0 < other < k and named:
        smallest = min(named, key=lambda d: (named[d], d))
        other += named.pop(smallest)
    return {d: d if d in named else OTHER for d in sizes}
