"""Writing files so that no reader ever sees half of one: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import os
import tempfile


def write_atomic(path, data: str | bytes) -> None:
    """Write `data` (text as UTF-8, or bytes) to `path` through a temporary file in the same folder and an
    os.replace: an interrupted write leaves the old file (or none), never a partial one."""
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=".ufm-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


__all__ = ["write_atomic"]
