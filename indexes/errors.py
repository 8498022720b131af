"""Errors that reach the user: what went wrong, where, and what to do about it.

Each carries the exit code the CLI returns, so the shell stays thin: 1 not found, 2 bad usage or
bad source, 3 the index could not be written (disk full, file size limit, read-only directory).
"""

from __future__ import annotations


class AtlasError(Exception):
    exit_code = 2

    def __init__(self, message: str, hint: str = "", where: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.where = where

    def __str__(self) -> str:
        where = f"{self.where}: " if self.where else ""
        hint = f"\n  hint: {self.hint}" if self.hint else ""
        return f"{where}{self.message}{hint}"


class BadSource(AtlasError):
    """The path is not a PyTorch source, or a file it needs is missing."""


class BadIndex(AtlasError):
    """The index file is corrupt, foreign, or from an incompatible torchatlas."""


class CannotWrite(AtlasError):
    """Writing the index failed for a reason outside torchatlas: no space left, a file size limit,
    a read-only or vanished directory. Nothing of the new index lands; the previous one stays."""

    exit_code = 3


def is_write_failure(e: BaseException) -> bool:
    """Whether `e` is the disk or the file system refusing a write (not a bug of ours)."""
    import errno
    import sqlite3
    if isinstance(e, sqlite3.OperationalError):
        text = str(e).lower()
        return any(s in text for s in ("disk i/o error", "database or disk is full", "readonly database",
                                       "unable to open database file"))
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS,
                                                  errno.EACCES, errno.EPERM, errno.EIO)


def cannot_write(db, e: BaseException | str) -> CannotWrite:
    import errno
    text = str(e).lower()
    denied = (isinstance(e, OSError) and e.errno in (errno.EACCES, errno.EPERM, errno.EROFS)) or \
        "permission denied" in text or "read-only" in text or "readonly" in text
    what = ("that directory is not writable: point --db at one that is" if denied else
            "free some disk space (or lift the file size limit, `ulimit -f`), or point --db at another disk")
    return CannotWrite(f"could not write the index: {e}", where=str(db),
                       hint=f"{what}; the previous index, if any, is untouched")


class BadName(AtlasError):
    """What was typed cannot name anything (`torch.nn.Linear.`, `at::`, `a b`): said as bad usage,
    not searched for (a trailing '.' would otherwise match every name by its empty last part)."""


def check_name(text: str) -> str:
    """`text`, stripped, when it can be a symbol's name; else BadName saying what is wrong with it."""
    t = text.strip()
    why = ("it is empty" if not t else
           "it has a space in it" if any(c.isspace() for c in t) else
           f"it ends with {t[-2:] if t.endswith('::') else t[-1]!r}" if t.endswith((".", ":")) else
           f"it starts with {t[0]!r}" if t.startswith((".", ":")) and not t.startswith("::") else
           "it has an empty part ('..' or ':::')" if ".." in t or ":::" in t else "")
    if why:
        raise BadName(f"{text!r} is not a name: {why}",
                      hint="a dotted Python name (torch.nn.Linear.forward), a C++ name (at::native::add_out) or "
                           "an operator (aten::add.Tensor); `torchatlas find` takes any part of one")
    return t


class NotFound(AtlasError):
    exit_code = 1

    def __init__(self, message: str, suggestions: list[str] | tuple[str, ...] = (), hint: str = ""):
        if suggestions and not hint:
            hint = "did you mean " + ", ".join(suggestions) + "?"
        super().__init__(message, hint=hint)
        self.suggestions = list(suggestions)


class Interrupted(AtlasError):
    exit_code = 130
