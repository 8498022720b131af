"""Preprocessor conditional groups that would derail tree-sitter (phase 1, with `blanking`).

A conditional group whose branches each open (or each close) the same block differently leaves
tree-sitter with two openings for one closing brace, and the rest of the file in an ERROR region
or in the body of the function that holds the group. At namespace level: the autograd
Functions.h (`#ifdef _WIN32 / struct AddBackward0 : public TraceableFunction { / TORCH_API
AddBackward0() = default; / #else / struct TORCH_API AddBackward0 : public TraceableFunction { /
#endif`), TopKImpl.h (`inline namespace CPU_CAPABILITY {` / `inline namespace DEFAULT {`). In a
function body, far more often: `#ifdef NCCL_HAS_COMM_NONBLOCKING / if (a && b) { / #else / if (a)
{ / #endif` (ProcessGroupNCCL.cpp: the function never closes, every later definition of the file
- `ProcessGroupNCCL::reduce`, `getNCCLComm`, ... - becomes part of its body and is lost;
OperatorEntry.cpp: `computeDispatchTableEntryWithDebug` lost the same way). The preprocessor
keeps one branch, so the braces balance in every configuration; tree-sitter keeps all of them.

The same holds for a group that splits one declaration or expression (the code before it ends in
`,`, `<`, `(` or `=`: `ska::flat_hash_map<DispatchKey, / #ifdef X / std::array<K, 1> / #else /
std::list<K> / #endif / > kernels_;`), whose every branch tree-sitter would read into one type.
For a leaf group (no nested conditional, first branch not `#if 0`) whose branches all have the
same brace balance, non-zero or mid-construct, and whose other branches are short (12 lines), the parsed copy keeps
the first branch only, as a build with its condition true would: the group's directive lines and
the other branches' code lines are blanked (their own #include/#define lines are kept).
`scopes._namespace_spans` counts braces the same way (first live branch), as universal-ctags does.
"""

from __future__ import annotations

import re

_COND_RE = re.compile(rb"#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b")
_ELSE_RE = re.compile(rb"#el(?:se|if)")
_DIRECTIVE_WORD_RE = re.compile(rb"#[ \t]*(\w*)")
_IF_WORDS = frozenset((b"if", b"ifdef", b"ifndef"))
_COND_WORDS = frozenset((b"if", b"ifdef", b"ifndef", b"elif", b"else", b"endif"))


def _directive_at(data: bytes, s: int):
    """(line start, end of the line and its continuations, directive word) of a `#` at s that
    starts a line (after blanks), else None."""
    ls = data.rfind(b"\n", 0, s) + 1
    if ls != s and data[ls:s].strip():
        return None
    m = _DIRECTIVE_WORD_RE.match(data, s)
    le = data.find(b"\n", s)
    while le > 1 and (data[le - 1] == 0x5C or (data[le - 1] == 0x0D and data[le - 2] == 0x5C)):
        le = data.find(b"\n", le + 1)  # a continued directive line
    return ls, len(data) if le < 0 else le + 1, m.group(1)


def _is_false(cond: bytes) -> bool:
    """Whether an `#if` condition is a literal 0/false (trailing comment allowed)."""
    return cond.split(b"//", 1)[0].split(b"/*", 1)[0].strip() in (b"0", b"false")


def _mid_construct(data: bytes, line_start: int) -> bool:
    """Whether the code before a directive line stops mid-construct (`ska::flat_hash_map<K,` /
    `f(a,` / `x =`): a group there splits one declaration or expression, which tree-sitter cannot
    parse with every branch in it (OperatorEntry.h's `kernels_` lost its type and name)."""
    k = line_start - 1
    while k >= 0 and data[k] in b" \t\r\n":
        k -= 1
    return k >= 0 and data[k] in b",<(="


def _branch_spans(data: bytes) -> list:
    """Spans to blank so that tree-sitter sees only the first branch of the conditional groups
    described above. Found from each `#else`/`#elif` backwards (its group's `#if` must be the
    previous conditional directive), which costs one memchr-led regex search in most files."""
    out: list = []
    done = -1
    for mm in _ELSE_RE.finditer(data):
        e = mm.start()
        if e < done or _directive_at(data, e) is None:
            continue
        # the directive before this #else/#elif: the group's #if when its first branch is a leaf
        p = max(data.rfind(b"#if", 0, e), data.rfind(b"#el", 0, e), data.rfind(b"#endif", 0, e))
        d = _directive_at(data, p) if p >= 0 else None
        if d is None or d[2] not in _COND_WORDS:  # not a directive (`# if`, in a comment): the slow way
            p = e
            while True:
                p = data.rfind(b"#", 0, p)
                if p < 0:
                    break
                d = _directive_at(data, p)
                if d is not None and d[2] in _COND_WORDS:
                    break
        if p < 0 or d[2] not in _IF_WORDS:
            continue  # a later branch, or a nested group in the first branch
        if d[2] == b"if":
            cond = data[p : d[1]]
            if _is_false(cond[cond.index(b"if") + 2 :]):
                continue  # `#if 0`: a dead first branch
        first = data[d[1] : e]
        bal = first.count(b"{") - first.count(b"}")
        if bal == 0 and not _mid_construct(data, d[0]):
            continue
        # the whole group: its directive lines, no nested group, every branch with the same balance
        g = [d[:2]]
        ok = False
        for m in _COND_RE.finditer(data, e):
            dd = _directive_at(data, m.start())
            if dd is None:
                continue
            if dd[2] in _IF_WORDS:
                break  # nested
            g.append(dd[:2])
            if dd[2] == b"endif":
                ok = True
                break
        if not ok:
            continue
        done = g[-1][1]
        for (_, b), (c, _) in zip(g[1:], g[2:]):
            t = data[b:c]
            if t.count(b"{") - t.count(b"}") != bal:
                break
        else:
            if data.count(b"\n", g[1][0], g[-1][0]) <= 12:
                out.extend(g)
                for (_, b), (c, _) in zip(g[1:], g[2:]):  # the code lines of the other branches
                    pos = b
                    while pos < c:
                        k = data.find(b"\n", pos, c)
                        k = c if k < 0 else k + 1
                        if not data[pos:k].lstrip().startswith(b"#"):
                            out.append((pos, k))
                        pos = k
    return out
