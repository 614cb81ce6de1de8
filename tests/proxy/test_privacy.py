"""fold_departments, and that metrics and reports fold the same people into the same groups."""

from __future__ import annotations

import pytest

from proxy.privacy import OTHER, fold_departments


@pytest.mark.parametrize(
    ("sizes", "k", "expected"),
    [
        pytest.param({"a": 5, "b": 7}, 5, {"a": "a", "b": "b"}, id="all large"),
        pytest.param({"a": 5, "b": 3, "c": 2}, 5, {"a": "a", "b": OTHER, "c": OTHER}, id="small"),
        pytest.param(
            {"a": 5, "b": 6, "c": 2}, 5, {"a": OTHER, "b": "b", "c": OTHER}, id="other too small"
        ),
        pytest.param({"a": 5, None: 1}, 5, {"a": OTHER, None: OTHER}, id="no department"),
        pytest.param({"a": 3}, 5, {"a": OTHER}, id="small office"),
        pytest.param({"other": 9, "a": 5}, 5, {"other": OTHER, "a": "a"}, id="named other"),
        pytest.param({"a": 1, None: 1}, 1, {"a": "a", None: OTHER}, id="k=1"),
    ],
)
def test_fold_departments(sizes: dict[str | None, int], k: int, expected: object) -> None:
    assert fold_departments(sizes, k) == expected
