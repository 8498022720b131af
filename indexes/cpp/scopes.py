"""Namespaces and classes around a byte offset, and their recovery from the text (phase 3b).

When the structure walk met an ERROR node outside class bodies (~3% of files, 8% of the bytes),
tree-sitter may have swallowed a `namespace X {` into it or closed it early, and the qualnames
below it lack their namespaces. A textual pass (one literal-led regex over comments, literals,
preprocessor lines, braces and `namespace` headers; of an `#if/#else` group the first live branch
sets the brace depth, as in ctags) finds every `namespace A {`, `namespace A::B {`, `inline
namespace X {` and anonymous namespace with its brace range, and a definition whose tree
namespaces are a strict subsequence of the textual ones is requalified; the same brace matching
drops the classes the tree wrongly nests a definition in. Namespaces the tree did not see become
Definitions. `_scope_at` / `_scope_fixed` give the namespace/class prefix of any offset (for
registrations and macro call sites).
"""

from __future__ import annotations

from bisect import bisect_right
import re

from .conditionals import _is_false
from .definitions import _CLASS_TYPES
from .text import _COMMENT_RE, _WORD, _join, _norm_name, _one_line

# One token per comment, string/char/raw-string literal, preprocessor line (continuations
# included), brace, and `namespace <name>? {` header (comments allowed around the name); code in
# between is skipped by the regex engine, so Python sees ~1 token per 100 bytes. Every alternative
# starts with a literal character (`\{|\}`, not `[{}]`): sre then skips to the next candidate by
# a character set check, twice as fast.
_NS_TOKEN_RE = re.compile(
    rb"//[^\n]*"
    rb"|/\*.*?(?:\*/|\Z)"
    rb"|R\"([^()\\\s\"]{0,16})\(.*?\)\1\""
    rb"|\"(?:[^\"\\\n]|\\.)*\""
    rb"|'(?:[^'\\\n]|\\.){1,8}'"
    rb"|\#[ \t]*(\w*)(?:[^\n\\]|\\.)*"
    rb"|\{|\}"
    rb"|namespace(?:\s|/\*.*?\*/)*((?:inline\s+)?[A-Za-z_]\w*(?:\s*::\s*(?:inline\s+)?[A-Za-z_]\w*)*)?"
    rb"(?:\s|/\*.*?\*/)*\{",
    re.S,
)
_IF_DIRECTIVES = frozenset((b"if", b"ifdef", b"ifndef"))
_ELSE_DIRECTIVES = frozenset((b"else", b"elif", b"elifdef", b"elifndef"))


def _namespace_spans(data: bytes) -> tuple[list, dict]:
    """`namespace X {` blocks found by brace matching on the text, whatever tree-sitter made of them.

    Returns ([(name_byte, open_byte, close_byte, path, keyword_byte)] sorted by open_byte, {open
    byte: close byte} of the other braces), where path is the tuple of enclosing named namespaces
    including this one's components (`namespace a::b {` adds two; an anonymous namespace adds none:
    it is transparent; name_byte == keyword_byte for it). Comments, literals and preprocessor lines
    are skipped. Of the branches of an `#if`/`#ifdef` group the first live one
    (not `#if 0`) sets the brace depth after `#endif`, as in universal-ctags: `#ifdef _WIN32 struct
    A : B { ... #else struct API A : B { #endif` opens one brace, not two."""
    stack: list = []  # per open brace: its offset, or [name_byte, open_byte, path, keyword_byte]
    frames: list = []  # per open #if group: [stack at #if, stack after the first live branch, live]
    found: dict = {}
    braces: dict = {}
    for m in _NS_TOKEN_RE.finditer(data):
        s = m.start()
        c = data[s]
        if c == 0x7B:  # '{'
            stack.append(s)
        elif c == 0x7D:  # '}'
            if stack:
                e = stack.pop()
                if e.__class__ is int:
                    braces.setdefault(e, s)
                else:
                    found.setdefault(e[1], (e[0], e[1], s, e[2], e[3]))
        elif c == 0x6E:  # `namespace ... {`
            if s and data[s - 1] in _WORD:
                stack.append(m.end() - 1)  # `my_namespace {`: an ordinary brace
                continue
            path = ()
            for e in reversed(stack):
                if e.__class__ is not int:
                    path = e[2]
                    break
            name = m.group(3)
            if name:
                path = path + tuple(p.split()[-1].decode("utf-8", "replace") for p in name.split(b"::"))
                stack.append([m.start(3), m.end() - 1, path, s])
            else:
                stack.append([s, m.end() - 1, path, s])
        elif c == 0x23:  # '#'
            d = m.group(2)
            if d in _IF_DIRECTIVES:
                live = not (d == b"if" and _is_false(data[m.end(2) : m.end()]))
                frames.append([stack[:], None, live])
            elif d in _ELSE_DIRECTIVES:
                if frames:
                    f = frames[-1]
                    if f[2] and f[1] is None:
                        f[1] = stack
                    stack = f[0][:]
                    f[2] = True
            elif d == b"endif" and frames:
                f = frames.pop()
                if f[1] is not None:
                    stack = f[1]
                elif not f[2]:
                    stack = f[0]
    n = len(data)
    for e in stack:  # unclosed at the end of the file
        if e.__class__ is not int:
            found.setdefault(e[1], (e[0], e[1], n, e[2], e[3]))
    return sorted(found.values(), key=_second), braces


def _second(t: tuple):
    return t[1]


def _is_subsequence(short: list, long: tuple) -> bool:
    it = iter(long)
    return all(x in it for x in short)


def _ns_parts(prefix: str, ns_quals) -> tuple[list, str]:
    """Split a walker prefix into (its leading namespace components, the rest: classes)."""
    if not prefix:
        return [], ""
    comps = prefix.split("::")
    k = 0
    for j in range(len(comps), 0, -1):
        if "::".join(comps[:j]) in ns_quals:
            k = j
            break
    return comps[:k], "::".join(comps[k:])


def _requalify(ns: list, rest: str, path: tuple):
    """The prefix to use instead of ns + rest when the text says the namespaces are `path`, or None
    to keep it: only namespaces the tree lost are added (the tree's are a subsequence of path)."""
    if len(ns) >= len(path) or not _is_subsequence(ns, path):
        return None
    p = "::".join(path)
    return p + "::" + rest if rest else p


def _path_at(spans: list, pos: int) -> tuple:
    """Namespace path (from _namespace_spans) enclosing byte offset pos."""
    best = ()
    for sp in spans:
        if sp[1] >= pos:
            break
        if pos < sp[2]:
            best = sp[3]
    return best


def _fix_namespaces(data: bytes, defs: list, spans: list, braces: dict, bodies) -> bool:
    """Requalify the walker's definitions whose namespaces tree-sitter lost (by the text's
    namespace ranges) or whose enclosing classes it got wrong (a class whose body the text closes
    before the definition does not enclose it), and add the namespaces it did not see. A "method"
    left outside any class the tree saw is still a method when the innermost brace pair around it
    is not a namespace (a class the tree lost); else it is a function if it has a body (its index
    is in bodies) or a namespace-scope prototype, marked for removal with kind "". True if anything
    changed."""
    ns_quals = set()
    tree_ns = {}
    classes: dict = {}  # tree qualname of a class -> [(name byte, body '{' byte)]
    for d in defs:
        k = d[2]
        if k == "namespace":
            ns_quals.add(d[1])
            tree_ns[d[7]] = d
        elif len(d) > 10:
            classes.setdefault(d[1], []).append((d[7], d[10]))
    changed = False
    innermost = None
    # sweep the definitions in source order against the (properly nested) spans
    order = sorted(range(len(defs)), key=lambda i: defs[i][7])
    active: list = []
    si = 0
    nsp = len(spans)
    for i in order:
        d = defs[i]
        pos = d[7]
        while si < nsp and spans[si][1] < pos:
            sp = spans[si]
            si += 1
            while active and active[-1][2] <= sp[1]:
                active.pop()
            active.append(sp)
        while active and active[-1][2] <= pos:
            active.pop()
        path = active[-1][3] if active else ()
        if not path and not d[8]:
            continue
        ns, rest = _ns_parts(d[8], ns_quals)
        new_rest = rest
        if rest and classes:
            kept = []
            q = "::".join(ns)
            for c in rest.split("::"):
                q = q + "::" + c if q else c
                if _encloses(classes.get(q), pos, braces):
                    kept.append(c)
            if len(kept) != rest.count("::") + 1:
                new_rest = "::".join(kept)
                if not kept and d[2] == "variable":  # a data member of no class the text agrees on
                    d[2] = ""
                    changed = True
                elif not kept and d[2] == "method" and "::" not in d[9]:
                    if innermost is None:
                        innermost = _innermost_brace(spans, braces)
                    if innermost(pos):
                        d[2] = "function" if i in bodies else ""
                        changed = True
        new = _requalify(ns, new_rest, path) if path else None
        if new is None:
            if new_rest is rest:
                continue
            new = "::".join(ns + [new_rest]) if new_rest else "::".join(ns)
        qual = _join(new, d[9])
        if qual != d[1]:
            d[1] = qual
            changed = True
    line = 1
    prev = 0
    for name_pos, _, close, path, kw in spans:
        if not path or name_pos == kw:
            continue  # anonymous
        d = tree_ns.get(name_pos)
        if d is not None:  # seen by the tree, which may have closed it early
            end_line = d[3] + data.count(b"\n", name_pos, close)
            if end_line != d[4]:
                d[4] = end_line
                changed = True
            continue
        line += data.count(b"\n", prev, name_pos)
        prev = name_pos
        head = data.rfind(b"\n", 0, kw) + 1
        pre = data[head:kw].rstrip()
        start = head + len(pre) - 6 if pre.endswith(b"inline") and (len(pre) == 6 or pre[-7] not in _WORD) else kw
        sig = data[start : data.find(b"{", name_pos)].decode("utf-8", "replace")
        if "/" in sig:
            sig = _COMMENT_RE.sub(" ", sig)
        sig = _one_line(sig)
        end_line = line + data.count(b"\n", name_pos, close)
        q = "::".join(path)
        defs.append([path[-1], q, "namespace", line, end_line, sig, (), name_pos, "", q])
        changed = True
    return changed


def _innermost_brace(spans: list, braces: dict):
    """A function telling whether the innermost brace pair around a byte offset is a namespace's
    (or there is none), from the textual brace pairs."""
    pairs = sorted([(o, c, False) for o, c in braces.items()] + [(sp[1], sp[2], True) for sp in spans])
    opens = [p[0] for p in pairs]
    parent = []
    stack: list = []
    for k, (o, c, _) in enumerate(pairs):
        while stack and pairs[stack[-1]][1] < o:
            stack.pop()
        parent.append(stack[-1] if stack else -1)
        stack.append(k)

    def at_namespace_level(pos: int) -> bool:
        j = bisect_right(opens, pos) - 1
        while j >= 0 and pairs[j][1] < pos:
            j = parent[j]
        return j < 0 or pairs[j][2]

    return at_namespace_level


def _encloses(cands, pos: int, braces: dict) -> bool:
    """Whether the class (one of cands: (name byte, body '{' byte), the nearest before pos) encloses
    pos by the text's brace matching; True when unknown."""
    if not cands:
        return True
    best = None
    for c in cands:
        if c[0] < pos and (best is None or c[0] > best[0]):
            best = c
    if best is None:
        return True
    close = braces.get(best[1])
    return close is None or pos < close


def _scope_fixed(root, pos: int, src: bytes, spans) -> tuple[str, bool]:
    """_scope_at, with the namespaces tree-sitter lost restored from spans (when given)."""
    if spans is None:
        return _scope_at(root, pos, src)
    prefix, in_class, ns_part = _scope_at(root, pos, src, True)
    path = _path_at(spans, pos)
    if path and prefix.startswith(ns_part):
        new = _requalify(ns_part.split("::") if ns_part else [], prefix[len(ns_part) + 2 :] if ns_part else prefix,
                         path)
        if new is not None:
            return new, in_class
    return prefix, in_class


def _scope_at(root, pos: int, src: bytes, with_ns: bool = False):
    """(qualified namespace/class prefix enclosing byte offset pos, whether the innermost of them
    is a class), plus, if with_ns, the namespace part of the prefix."""
    node = root.descendant_for_byte_range(pos, pos)
    parts = []
    ns_parts = []
    in_class = None
    while node is not None:
        ty = node.type
        if ty == "namespace_definition":
            n = node.child_by_field_name("name")
            if n is not None:
                parts.append("".join(src[n.start_byte:n.end_byte].decode("utf-8", "replace").split()))
                ns_parts.append(parts[-1])
            if in_class is None:
                in_class = False
        elif ty in _CLASS_TYPES:
            n = node.child_by_field_name("name")
            if n is not None and node.child_by_field_name("body") is not None:
                parts.append(_norm_name(src[n.start_byte:n.end_byte].decode("utf-8", "replace")))
                if in_class is None:
                    in_class = True
        node = node.parent
    if with_ns:
        return "::".join(reversed(parts)), bool(in_class), "::".join(reversed(ns_parts))
    return "::".join(reversed(parts)), bool(in_class)
