"""Small text helpers of the C++ parser: byte-level scanning (directive lines, matching parentheses)
and the spelling of names (whitespace and template arguments removed, scopes joined).

Shared by every phase; they know nothing of tree-sitter.
"""

from __future__ import annotations

import re

_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_UPPER_WORD = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _on_directive_line(data: bytes, pos: int) -> bool:
    ls = data.rfind(b"\n", 0, pos) + 1
    return data[ls:pos].lstrip().startswith(b"#")


def _in_directive(data: bytes, pos: int) -> bool:
    """Whether pos is on a preprocessor line or one of its backslash-continued lines."""
    ls = data.rfind(b"\n", 0, pos) + 1
    while True:
        if data[ls:pos].lstrip().startswith(b"#"):
            return True
        k = ls - 2  # the last byte of the previous line
        if k >= 0 and data[k] == 0x0D:
            k -= 1
        if k < 0 or data[k] != 0x5C:
            return False
        pos = k
        ls = data.rfind(b"\n", 0, pos) + 1


def _paren_end(data: bytes, pos: int, limit: int = 4000) -> int:
    """Index just past the ')' matching the first '(' at/after pos (skipping blanks); -1 if none."""
    n = len(data)
    i = pos
    while i < n and data[i] in b" \t\r\n":
        i += 1
    if i >= n or data[i] != 0x28:  # '('
        return -1
    depth = 0
    end = min(n, i + limit)
    while i < end:
        c = data[i]
        if c == 0x28:
            depth += 1
        elif c == 0x29:
            depth -= 1
            if depth == 0:
                return i + 1
        elif c == 0x22 or c == 0x27:  # skip a string or character literal
            j = i + 1
            while j < end and data[j] != c:
                j += 2 if data[j] == 0x5C else 1
            i = j
        elif c == 0x2F and i + 1 < end and data[i + 1] in b"/*":  # skip a comment
            j = data.find(b"\n" if data[i + 1] == 0x2F else b"*/", i + 2, end)
            i = end if j < 0 else j
        i += 1
    return -1


_WS_RE = re.compile(r"\s+")


def _one_line(text: str, cap: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= cap else text[: cap - 3] + "..."


def _strip_templates(s: str) -> str:
    """`c10::SmallVector<T, 4>::grow` -> `c10::SmallVector::grow`; keeps `operator<<` intact."""
    if "<" not in s:
        return s
    head, tail = s, ""
    i = s.find("operator")
    if i >= 0 and (i == 0 or not (s[i - 1].isalnum() or s[i - 1] == "_")):
        head, tail = s[:i], s[i:]
    out = []
    depth = 0
    for ch in head:
        if ch == "<":
            depth += 1
        elif ch == ">":
            if depth:
                depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out) + tail


def _norm_name(s: str) -> str:
    """Whitespace- and template-free spelling of a (possibly qualified) name."""
    if s.isidentifier():
        return s
    if " " in s or "\n" in s or "\t" in s:
        s = _WS_RE.sub(" ", s).replace(" ::", "::").replace(":: ", "::")
        if "operator" not in s:
            s = s.replace(" ", "")
    s = _strip_templates(s)
    if s.startswith("::"):
        s = s[2:]
    return s


def _split_args(text: str) -> list[str]:
    """Split `a, f(b, c), "x,y"` at top-level commas (parens/brackets/braces/strings aware)."""
    if not any(c in text for c in "([{\"'"):
        return [a.strip() for a in text.split(",")] if text.strip() else []
    out = []
    depth = 0
    cur = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == '"' or ch == "'":
            j = i + 1
            while j < n and text[j] != ch:
                j += 2 if text[j] == "\\" else 1
            cur.append(text[i : j + 1])
            i = j + 1
            continue
        elif ch == "/" and text[i + 1 : i + 2] in ("/", "*"):  # keep comments whole
            j = text.find("\n" if text[i + 1] == "/" else "*/", i + 2)
            j = n if j < 0 else j + (0 if text[i + 1] == "/" else 2)
            cur.append(text[i:j])
            i = j
            continue
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    last = "".join(cur).strip()
    if last or out:
        out.append(last)
    return out


def _macro_args(data: bytes, open_pos: int) -> tuple[list[str], int]:
    """Arguments of the macro call whose '(' is at/after open_pos, and the end offset."""
    end = _paren_end(data, open_pos)
    if end < 0:
        return [], -1
    start = data.index(b"(", open_pos)
    inner = data[start + 1 : end - 1].decode("utf-8", "replace")
    return [" ".join(a.split()) for a in _split_args(inner)], end


_COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)


def _join(prefix: str, name: str) -> str:
    """Qualify `name` (as written) by the enclosing scopes `prefix`, the way C++ name lookup
    resolves a qualified declarator's first component: `at::native::f` inside `namespace at` is
    `at::native::f`, `native::f` inside `at::native` is `at::native::f`, `Foo::f` is `at::Foo::f`."""
    if not prefix:
        return name
    head = name.split("::", 1)[0]
    if head and "::" in name:
        parts = prefix.split("::")
        for j in range(len(parts) - 1, -1, -1):
            if parts[j] == head:
                return "::".join(parts[:j] + [name]) if j else name
    return prefix + "::" + name


def _end_line(node) -> int:
    """1-based last line; a node ending right after a newline (preprocessor lines) ends before it."""
    row, col = node.end_point
    if col == 0 and row > node.start_point[0]:
        return row
    return row + 1


def closing_paren(text: str, i: int) -> int:
    """The index of the `)` matching the `(` at text[i] in a stored signature or expression (-1 if
    the text is cut short)."""
    depth = 0
    for k in range(i, len(text)):
        ch = text[k]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return k
    return -1


# for readers of stored signatures outside the parser (indexes/overloads.py, indexes/link_cpp.py)
split_top_level = _split_args
strip_templates = _strip_templates
