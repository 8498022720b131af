"""Errors that reach the user: what went wrong, where, and what to do about it.

Each carries the exit code the CLI returns, so the shell stays thin: 1 not found, 2 bad usage or
bad source.
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


class NotFound(AtlasError):
    exit_code = 1

    def __init__(self, message: str, suggestions: list[str] | tuple[str, ...] = (), hint: str = ""):
        if suggestions and not hint:
            hint = "did you mean " + ", ".join(suggestions) + "?"
        super().__init__(message, hint=hint)
        self.suggestions = list(suggestions)


class Interrupted(AtlasError):
    exit_code = 130
