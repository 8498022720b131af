"""Static types written in Python signatures, read from the one-line text the index stores.

Why: the link step types a receiver (`gm.recompile()`, `self.weight.materialize()`) only from
what the source says outright: a parameter's annotation (`gm: GraphModule`), a class or module
variable's annotation or constructor (`weight: UninitializedParameter`, `V = _V()`), a property's
return annotation. The index keeps each definition's signature as one line of text
(`def f(self, gm: Optional["GraphModule"] = None) -> Graph`), so these helpers take that text
apart; they never guess: a type they cannot reduce to one dotted name is None.

* `params(sig)`      -> {name: annotation text or ""} of a `def` line (None if it is truncated)
* `returns(sig)`     -> the return annotation text, or ""
* `variable(sig)`    -> ("annotation", text) | ("call", callee) | None for `x: T = ...` / `x = C(...)`
* `type_name(text)`  -> the one class an annotation denotes (`Optional[X]`, `X | None`, `"X"` -> X),
                        else None (`list[X]`, `Union[A, B]`, `Callable[...]`)
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"[\[\](){}'\",:=|]|->")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_CALL = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\(")
_PARAM_VALUE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*): (.+)\Z")
_ELEMENT_OF = re.compile(r"([A-Za-z_][A-Za-z0-9_]*) = ([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\[\.\.\.\]\Z")
_LOOP_VARIABLE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*) in ([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(\(\))?\Z")
# annotations of a container whose elements are all one type (the last part of the name: typing.List too)
_CONTAINERS = frozenset(("list", "List", "Sequence", "MutableSequence", "Iterable", "Iterator", "Collection",
                         "set", "Set", "MutableSet", "AbstractSet", "frozenset", "FrozenSet", "deque", "Deque"))
_OPENERS = {"[": "]", "(": ")", "{": "}"}
_BRACKETS = re.compile(r"[\[\](){}'\"]")
_PLAIN = _BRACKETS.search


def _outside_strings(text: str, finder, start: int = 0):
    """(match, bracket depth after it) for each of `finder`'s matches in `text` from `start` that is
    not inside a string literal (quotes themselves are not yielded)."""
    depth, quote = 0, ""
    for m in finder(text, start):
        ch = m.group()
        if quote:
            if ch == quote and text[m.start() - 1] != "\\":
                quote = ""
            continue
        if ch in ("'", '"'):
            quote = ch
            continue
        if ch in _OPENERS:
            depth += 1
        elif ch in "])}":
            depth -= 1
        yield m, depth


def _split_top(text: str, sep: str) -> list[str]:
    """`text` split at `sep` where it is outside brackets and strings."""
    out, start = [], 0
    for m, depth in _outside_strings(text, _SPECIAL.finditer):
        if depth == 0 and m.group() == sep:
            out.append(text[start:m.start()])
            start = m.end()
    out.append(text[start:])
    return out


def _params_text(sig: str) -> tuple[str, str] | None:
    """(the text between the parentheses of a `def` line, what follows them), None if unbalanced."""
    i = sig.find("(")
    if i < 0:
        return None
    # most lines: `def f(...)` or `def f(...) -> T` with no quotes; the parentheses balance
    k = sig.rfind(") ->") if sig[-1] != ")" else len(sig) - 1
    if k > i and "'" not in sig and '"' not in sig:
        text = sig[i + 1:k]
        if text.count("(") == text.count(")") and text.count("[") == text.count("]"):
            return text, sig[k + 1:]
    for m, depth in _outside_strings(sig, _BRACKETS.finditer, i):
        if depth == 0 and m.group() in "])}":
            return sig[i + 1:m.start()], sig[m.end():]
    return None


def params(sig: str) -> dict[str, str] | None:
    """{parameter: annotation as written ("" without one)} of a `def ...(...)` line; of a line cut
    at the stored length (it ends in "..."), the parameters before the cut; None if not a def."""
    s = sig.lstrip()
    if not (s.startswith("def ") or s.startswith("async def ")):
        return None
    got = _params_text(s)
    if got is not None:
        text = got[0]
    elif s.endswith("...") and "(" in s:  # cut at the stored length: the parameters before the cut
        text = ",".join(_split_top(s[s.find("(") + 1:-3], ",")[:-1])  # (the last one may be cut)
    else:
        return None
    out: dict[str, str] = {}
    plain = _PLAIN(text) is None  # no brackets or strings: str methods split it (most lines)
    for p in text.split(",") if plain else _split_top(text, ","):
        p = p.strip().lstrip("*").strip()
        if not p or p == "/":
            continue
        if "=" in p:
            name_ann = p.partition("=")[0] if plain or _PLAIN(p) is None else _split_top(p, "=")[0]
        else:
            name_ann = p
        name, _, ann = name_ann.partition(":")
        name = name.strip()
        if name.isidentifier():
            out[name] = ann.strip()
    return out


def returns(sig: str) -> str:
    """The return annotation of a complete `def` line, "" without one."""
    got = _params_text(sig)
    if got is None:
        return ""
    rest = got[1].strip()
    if not rest.startswith("->"):
        return ""
    rest = rest[2:].strip()
    return rest[:-1].strip() if rest.endswith(":") else rest


def variable(sig: str) -> tuple[str, str] | None:
    """What a variable's line says of its type: ("annotation", T) for `x: T [= ...]`,
    ("call", C) for `x = C(...)` (C a dotted name: a class, or a function with a return annotation),
    ("param", T) for the parser's `x = p: T` (x bound to a parameter p annotated T),
    ("element", C) for the parser's `x in C` (a loop variable over the container C, a dotted name)
    and `x = C[...]` (an element taken from it), ("element_call", F) for `x in F()` (a loop over
    what the function F returns),
    else None (`x = y`, `x = a, b`, `x = f()[0]`)."""
    m = _LOOP_VARIABLE.match(sig)
    if m is not None:
        return ("element_call" if m.group(3) else "element"), m.group(2)
    m = _ELEMENT_OF.match(sig)
    if m is not None:
        return "element", m.group(2)
    if sig.endswith("(...)"):  # the parser's form for a local or an attribute: `x = a.C(...)`
        head, _, rhs = sig.partition(" = ")
        if _target(head) and _DOTTED.match(rhs[:-5]):
            return "call", rhs[:-5]
    elif _PLAIN(sig) is None and "=" not in sig:  # `x: T`
        name, _, ann = sig.partition(":")
        return ("annotation", ann.strip()) if ann.strip() and _target(name) else None
    parts = _split_top(sig, "=")
    head = parts[0]
    if ":" in head:
        name, _, ann = head.partition(":")
        if _target(name) and ann.strip():
            return "annotation", ann.strip()
        return None
    if len(parts) != 2 or not _target(head):
        return None
    rhs = parts[1].strip()
    m = _PARAM_VALUE.match(rhs)
    if m is not None:  # the parser's form for `x = p` with `p: T` a parameter: ("param", T)
        return "param", m.group(2)
    m = _CALL.match(rhs)
    if m is None:
        return None
    got = _params_text(rhs)
    if got is None or got[1].strip():  # `C(...).x`, `C(...)[0]`, a truncated line
        return None
    return "call", m.group(1)


def _target(text: str) -> bool:
    """`x` or `self.x` (an instance attribute's line in a method)."""
    t = text.strip()
    return t.isidentifier() or (t.startswith("self.") and t[5:].isidentifier())


def _unquote(t: str) -> str:
    t = t.strip()
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return t[1:-1].strip()
    return t


def type_name(ann: str) -> str | None:
    """The one class an annotation denotes, as written (`torch.fx.GraphModule`), or None."""
    t = _unquote(ann)
    for _ in range(3):
        if _DOTTED.match(t):
            return t if t != "None" else None
        alts = [a.strip() for a in _split_top(t, "|")]  # `X | None` (the splitter knows ":" "=" too)
        if len(alts) == 1 and t.endswith("]"):
            head, _, inner = t.partition("[")
            head = head.strip()
            if head in ("Optional", "typing.Optional"):
                t = _unquote(inner[:-1])
                continue
            if head in ("Union", "typing.Union"):
                alts = [a.strip() for a in _split_top(inner[:-1], ",")]
            else:
                return None  # list[X], Callable[...], Type[X]: not an instance of one class
        alts = [_unquote(a) for a in alts if _unquote(a) not in ("None", "")]
        if len(alts) != 1:
            return None
        t = alts[0]
    return None


def element_annotation(ann: str) -> str | None:
    """The annotation of one element of a container annotation: `list[Node]`, `Sequence["Node"]`,
    `Optional[List[Node]]`, `tuple[Node, ...]` -> "Node" (as written); None for anything else (a
    dict, a tuple of several types, a Callable, a bare `list`)."""
    t = _unquote(ann)
    for _ in range(3):
        alts = [_unquote(a) for a in _split_top(t, "|")]
        alts = [a for a in alts if a not in ("None", "")]
        if len(alts) != 1 or not alts[0].endswith("]"):
            return None
        head, _, inner = alts[0][:-1].partition("[")
        head = head.strip().rpartition(".")[2]
        if head == "Optional":
            t = _unquote(inner)
            continue
        args = [a.strip() for a in _split_top(inner, ",")]
        if head in _CONTAINERS and len(args) == 1:
            return _unquote(args[0]) or None
        if head in ("tuple", "Tuple") and len(args) == 2 and args[1] == "...":
            return _unquote(args[0]) or None
        if head == "Generator" and args:  # Generator[Yield, Send, Return]: what it yields
            return _unquote(args[0]) or None
        return None
    return None
