"""Where each table, key and array element sits in a TOML text: tomllib gives no positions.

A structural scan of text that tomllib has already parsed, so it may assume valid TOML;
it only serves error messages, so a surprise ends the scan instead of raising.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import tomllib
from collections.abc import Mapping

type TomlPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR_END = re.compile(r"[,\]}#\n]")
_BLANK = " \t\r\n"


class _Stop(Exception):
    """The text is not what the scan expected: keep what was found so far."""


def key_lines(text: str) -> dict[TomlPath, int]:
    """The 1-based line of every table, key and array element, by its path in the document."""
    scan = _Scan(text)
    with contextlib.suppress(_Stop, IndexError, tomllib.TOMLDecodeError):
        scan.document()
    return scan.lines


def line_of(lines: Mapping[TomlPath, int], path: TomlPath) -> int | None:
    """The line of `path`, or of its nearest located parent (a missing key: its table)."""
    for end in range(len(path), 0, -1):
        if (line := lines.get(path[:end])) is not None:
            return line
    return None


def toml_path(path: TomlPath) -> str:
    """`rules[2].categories[0]`, `modules."a b".title`: the path as a reader writes it."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = part if _BARE_KEY.fullmatch(part) else '"' + part.replace('"', '\\"') + '"'
            out += f".{key}" if out else key
    return out


class _Scan:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.lines: dict[TomlPath, int] = {}
        self._starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
        self._tables: dict[TomlPath, int] = {}  # array-of-tables path -> elements so far

    def document(self) -> None:
        table: TomlPath = ()
        while self._skip(_BLANK, comments=True) < len(self.text):
            if self.text[self.pos] == "[":
                table = self._header()
            else:
                self._keyval(table)

    def _line(self) -> int:
        return bisect.bisect_right(self._starts, self.pos)

    def _record(self, path: TomlPath, line: int, *, defines: bool = True) -> None:
        for end in range(1, len(path)):
            self.lines.setdefault(path[:end], line)  # an implicit parent: where first seen
        if defines:
            self.lines[path] = line
        else:
            self.lines.setdefault(path, line)

    def _header(self) -> TomlPath:
        line = self._line()
        array = self.text.startswith("[[", self.pos)
        self.pos += 2 if array else 1
        keys = self._key()
        self._skip(" \t")
        self._expect("]]" if array else "]")
        path: TomlPath = ()
        for n, key in enumerate(keys):
            path += (key,)
            if array and n == len(keys) - 1:
                count = self._tables.get(path, 0)
                self._tables[path] = count + 1
                self.lines.setdefault(path, line)
                path += (count,)
            elif path in self._tables:  # `[rules.x]` extends the latest `[[rules]]`
                path += (self._tables[path] - 1,)
        self._record(path, line)
        return path

    def _keyval(self, table: TomlPath) -> None:
        line = self._line()
        path = table + tuple(self._key())
        self._skip(" \t")
        self._expect("=")
        self._skip(" \t")
        self._record(path, line)
        self._value(path)

    def _key(self) -> list[str]:
        keys: list[str] = []
        while True:
            self._skip(" \t")
            char = self.text[self.pos]
            if char in "\"'":
                start = self.pos
                self._string()
                keys.append(tomllib.loads(f"k = {self.text[start : self.pos]}")["k"])
            elif bare := _BARE_KEY.match(self.text, self.pos):
                keys.append(bare.group())
                self.pos = bare.end()
            else:
                raise _Stop
            self._skip(" \t")
            if self.text[self.pos] != ".":
                return keys
            self.pos += 1

    def _value(self, path: TomlPath) -> None:
        char = self.text[self.pos]
        if char in "\"'":
            self._string()
        elif char == "[":
            self._items(path, "]")
        elif char == "{":
            self._items(path, "}")
        else:
            end = _SCALAR_END.search(self.text, self.pos)
            self.pos = len(self.text) if end is None else end.start()

    def _items(self, path: TomlPath, close: str) -> None:
        """An array's elements (`close` is `]`) or an inline table's keys (`}`)."""
        self.pos += 1
        count = 0
        while self._skip(_BLANK, comments=True) < len(self.text):
            if self.text[self.pos] == close:
                self.pos += 1
                return
            start = self.pos
            if close == "]":
                self._record((*path, count), self._line())
                self._value((*path, count))
                count += 1
            else:
                self._keyval(path)
            self._skip(_BLANK, comments=True)
            if self.text.startswith(",", self.pos):
                self.pos += 1
            elif self.pos == start:
                raise _Stop
        raise _Stop

    def _string(self) -> None:
        quote = self.text[self.pos]
        triple = self.text.startswith(quote * 3, self.pos)
        self.pos += 3 if triple else 1
        while True:
            char = self.text[self.pos]
            if char == "\\" and quote == '"':
                self.pos += 2
            elif char == quote and (not triple or self.text.startswith(quote * 3, self.pos)):
                self.pos += 1 if not triple else 3
                while triple and self.text.startswith(quote, self.pos):  # `""""`: a quote inside
                    self.pos += 1
                return
            else:
                self.pos += 1

    def _skip(self, chars: str, *, comments: bool = False) -> int:
        text = self.text
        while self.pos < len(text):
            if text[self.pos] in chars:
                self.pos += 1
            elif comments and text[self.pos] == "#":
                newline = text.find("\n", self.pos)
                self.pos = len(text) if newline < 0 else newline
            else:
                break
        return self.pos

    def _expect(self, token: str) -> None:
        if not self.text.startswith(token, self.pos):
            raise _Stop
        self.pos += len(token)
