"""Which failures are the disk's (one clear line, exit 3) and which are bugs (a traceback)."""

from __future__ import annotations

import errno
import sqlite3

import pytest

from torchatlas.indexes.errors import CannotWrite, cannot_write, is_write_failure


@pytest.mark.parametrize("e", [
    sqlite3.OperationalError("disk I/O error"), sqlite3.OperationalError("database or disk is full"),
    sqlite3.OperationalError("attempt to write a readonly database"),
    OSError(errno.ENOSPC, "No space left on device"), OSError(errno.EFBIG, "File too large"),
    PermissionError(errno.EACCES, "Permission denied"), OSError(errno.EROFS, "Read-only file system"),
])
def test_the_disk_refusing_is_a_write_failure(e):
    assert is_write_failure(e)


@pytest.mark.parametrize("e", [
    sqlite3.OperationalError("no such table: refs"), sqlite3.OperationalError('near "SELEC": syntax error'),
    OSError(errno.ENOENT, "No such file or directory"), ValueError("disk I/O error"), RuntimeError("boom"),
])
def test_bugs_are_not_write_failures(e):
    assert not is_write_failure(e)


def test_the_hint_fits_the_failure():
    full = cannot_write("/x/i.sqlite", OSError(errno.ENOSPC, "No space left on device"))
    denied = cannot_write("/x/i.sqlite", PermissionError(errno.EACCES, "Permission denied"))
    assert isinstance(full, CannotWrite) and full.exit_code == 3 and full.where == "/x/i.sqlite"
    assert "disk space" in full.hint and "not writable" not in full.hint
    assert "not writable" in denied.hint and "disk space" not in denied.hint
    assert "previous index" in full.hint and "previous index" in denied.hint
