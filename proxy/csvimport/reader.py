"""Reading a CSV file for an import: its encoding, its header and its rows, by line number.

A file that cannot be read at all raises `ImportRefused`; a bad row comes out as a `RowError`.
"""

from __future__ import annotations

import csv
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from _csv import Reader
    from collections.abc import Iterable, Iterator
    from pathlib import Path


class ImportRefused(ValueError):
    """A file that cannot be imported at all (unreadable, bad header); names the file."""

    def __init__(self, label: str, message: str) -> None:
        super().__init__(f"{label}: {message}")


@dataclass(frozen=True, slots=True)
class RowError:
    """A bad row: its line in the file (the header is line 1) and every reason."""

    line: int
    message: str

    def describe(self, label: str) -> str:
        return f"{label}: line {self.line}: {self.message}"


@contextmanager
def open_csv(path: Path, label: str) -> Iterator[tuple[Iterator[str], int]]:
    """The file as text lines (a UTF-8 BOM dropped) and its size in bytes.

    Reading a byte that is not UTF-8 raises ImportRefused naming its line.
    """
    try:
        lines = path.open(encoding="utf-8-sig", newline="")
    except OSError as e:
        raise ImportRefused(label, f"cannot read {path}: {e.strerror}") from None
    with lines:
        yield _decoded(lines, path, label), path.stat().st_size


def _decoded(lines: TextIO, path: Path, label: str) -> Iterator[str]:
    try:
        yield from lines
    except UnicodeDecodeError:
        # The decoder reads ahead in blocks, so the reader's line count says nothing of
        # where the byte is: find it in the file itself.
        raise _not_utf8(path, label) from None


def _not_utf8(path: Path, label: str) -> ImportRefused:
    advice = "save the file as UTF-8"
    try:
        found = first_bad_byte(path)
    except OSError as e:
        return ImportRefused(
            label, f"not UTF-8 text ({advice}; cannot read it again: {e.strerror})"
        )
    if found is None:  # changed since: the byte has gone
        return ImportRefused(label, f"not UTF-8 text ({advice})")
    line, offset, byte = found
    return ImportRefused(
        label, f"line {line}: not UTF-8 text: byte 0x{byte:02x} at offset {offset} ({advice})"
    )


def first_bad_byte(path: Path) -> tuple[int, int, int] | None:
    """The line, the offset in the file and the value of the first byte that is not UTF-8.

    Lines end at CR LF, LF or a lone CR, as the CSV reader counts them.
    """
    line, offset = 1, 0
    with path.open("rb") as raw:
        for chunk in raw:  # split at LF: no UTF-8 sequence holds that byte, so each decodes alone
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError as e:
                return line + _lone_cr(chunk[: e.start]), offset + e.start, chunk[e.start]
            line += chunk.count(b"\n") + _lone_cr(chunk)
            offset += len(chunk)
    return None


def _lone_cr(chunk: bytes) -> int:
    return chunk.count(b"\r") - chunk.count(b"\r\n")


def read_rows(
    lines: Iterable[str],
    label: str,
    columns: tuple[str, ...],
    optional: tuple[str, ...] = (),
) -> Iterator[tuple[int, list[str]] | RowError]:
    """The data rows of a CSV, as (line, values in `columns` order), after checking the header.

    The header is checked at once: ImportRefused if it is missing or wrong. An `optional`
    column the header names is read too (after `columns`); one it does not name is left out.
    A row with the wrong number of fields comes out as a RowError; blank lines are skipped.
    """
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise _unreadable(e, reader, label) from None
    present = _present(header, optional)
    return _rows(reader, label, _header_order(header, label, (*columns, *present)), columns)


def _rows(
    reader: Reader, label: str, order: list[int], columns: tuple[str, ...]
) -> Iterator[tuple[int, list[str]] | RowError]:
    width = len(order)
    expected = (
        f"expected {width} fields ({','.join(columns)}{',...' if width > len(columns) else ''})"
    )
    try:
        for values in reader:
            if len(values) == width:
                yield reader.line_num, [values[i].strip() for i in order]
            elif values:
                yield RowError(reader.line_num, f"{expected}, got {len(values)}")
    except csv.Error as e:
        raise _unreadable(e, reader, label) from None


def _present(header: list[str] | None, optional: tuple[str, ...]) -> tuple[str, ...]:
    names = {name.strip().lstrip("\ufeff").strip() for name in header or ()}
    return tuple(c for c in optional if c in names)


def _unreadable(error: csv.Error, reader: Reader, label: str) -> ImportRefused:
    return ImportRefused(label, f"line {reader.line_num}: not valid CSV: {error}")


def _header_order(header: list[str] | None, label: str, columns: tuple[str, ...]) -> list[int]:
    """For each expected column, its index in the file; ImportRefused naming any difference."""
    wanted = ",".join(columns)
    if header is None:
        raise ImportRefused(label, f"empty file: expected the header line {wanted}")
    names = [name.strip() for name in header]
    if names and names[0].startswith("\ufeff"):
        names[0] = names[0][1:].strip()
    missing = [c for c in columns if c not in names]
    extra = [n for n in names if n not in columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    problems = [
        f"{what} {', '.join(repr(c) for c in cols)}"
        for what, cols in (("missing", missing), ("unexpected", extra), ("repeated", twice))
        if cols
    ]
    if problems:
        raise ImportRefused(label, f"line 1: bad header: {'; '.join(problems)} (expected {wanted})")
    return [names.index(c) for c in columns]
