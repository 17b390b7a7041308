"""Files are written whole or not at all: to a temporary name in the same folder, then renamed.

A crash or a kill at any moment leaves either the previous file or the new one, never a
truncated one, because `os.replace` within a folder is atomic. Temporary names start with a
dot and end in `.tmp`, so a folder can be swept of leftovers (`remove_leftovers`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TMP_SUFFIX = ".tmp"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files readable by the owner only; results are shared, so use the umask.
_FILE_MODE = 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block succeeds it is flushed to disk and
    renamed onto `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    os.fchmod(fd, _FILE_MODE)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically; the folder must exist."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, data: Any, indent: int | None = 2) -> Path:
    """Write `data` as JSON atomically, creating the folder if needed."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, json.dumps(data, indent=indent) + "\n")


def torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """`torch.save(obj, path)` whole or not at all; a refused write is an OSError naming `path`.

    torch reports a full disk as `enforce fail at inline_container.cc`, which names neither
    the file nor the cause.
    """
    import torch

    with atomic_path(path) as tmp:
        try:
            torch.save(obj, tmp)
        except RuntimeError as err:
            if not any(k in str(err) for k in ("inline_container", "PytorchStreamWriter",
                                                "write failed")):
                raise
            raise OSError(f"could not write {path}: the file system refused the data (a full "
                          f"disk or a file-size limit; {free_mib(path):.0f} MiB free there)"
                          ) from err
    return Path(path)


def free_mib(path: str | os.PathLike) -> float:
    """Free space (MiB) on the file system of `path`, or of its nearest existing parent."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free / 2**20


def move_aside(path: str | os.PathLike, why: str) -> Path:
    """Rename a file that cannot be used to `<name>.<why>-<time>`, kept for inspection."""
    path = Path(path)
    target = path.with_name(f"{path.name}.{why}-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, target)
    return target


def remove_leftovers(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed writer left in `folder`; returns what was removed."""
    removed = []
    for tmp in Path(folder).glob(f".*{TMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
            removed.append(tmp)
    return removed


__all__ = ["atomic_path", "free_mib", "move_aside", "remove_leftovers", "torch_save",
           "write_json", "write_text"]
