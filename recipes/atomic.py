"""Atomic writes: readers see the previous version or the new one, never half a file.

Each writer fills a temporary sibling path and renames it into place with `os.replace`,
which is atomic on POSIX file systems when both paths are on the same file system.
"""

import contextlib
import json
import os
import shutil
import tempfile


def write_json(path, data):
    """Write `data` as indented JSON to `path` atomically.

    Args:
        path: destination file path.
        data: a JSON-serializable object.

    Example:
    >>> write_json("runs/demo/metrics.json", {"accuracy": 0.9})
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=directory, prefix=".tmp-", suffix=".json", delete=False
    ) as file:
        try:
            json.dump(data, file, indent=2, sort_keys=True)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        except BaseException:
            file.close()
            os.remove(file.name)
            raise
    os.replace(file.name, path)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path that replaces `path` (file or folder) when the block succeeds.

    On an exception the temporary path is removed and `path` keeps its previous content.
    A folder at `path` is replaced by moving it aside first, so a crash between the two
    renames leaves the old version under a `.old-` name rather than losing it.

    Args:
        path: the final file or folder path.

    Example:
    >>> with atomic_path("runs/demo/model.keras") as temporary:
    ...     model.save(temporary)
    """
    path = os.path.abspath(path)
    directory, name = os.path.split(path)
    os.makedirs(directory, exist_ok=True)
    recover_interrupted(path)
    staging = tempfile.mkdtemp(dir=directory, prefix=f".tmp-{name}-")
    temporary = os.path.join(staging, name)
    try:
        yield temporary
        _replace(temporary, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def recover_interrupted(path):
    """Clean up after a writer of `path` that was killed, and restore a lost previous version.

    A killed writer leaves its `.tmp-<name>-*` staging folder, which is deleted here. A writer
    killed between the two renames of a folder replacement leaves nothing at `path` and the
    previous version under `.old-<name>-*`, which is moved back. Only one writer per path is
    supported: a concurrent writer's staging folder would be deleted too.

    Example:
    >>> recover_interrupted("runs/demo/saved_model")
    """
    directory, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(directory):
        return
    for entry in sorted(os.listdir(directory)):
        candidate = os.path.join(directory, entry)
        if entry.startswith(f".tmp-{name}-") and os.path.isdir(candidate):
            shutil.rmtree(candidate, ignore_errors=True)
        elif entry.startswith(f".old-{name}-") and os.path.isdir(candidate):
            previous = os.path.join(candidate, name)
            if not os.path.exists(path) and os.path.exists(previous):
                os.replace(previous, path)
            shutil.rmtree(candidate, ignore_errors=True)


def _replace(source, destination):
    if not os.path.isdir(source) or not os.path.exists(destination):
        os.replace(source, destination)
        return

    # os.replace cannot overwrite a non-empty folder, so move the old one aside first.
    directory, name = os.path.split(destination)
    previous = tempfile.mkdtemp(dir=directory, prefix=f".old-{name}-")
    os.replace(destination, os.path.join(previous, name))
    os.replace(source, destination)
    shutil.rmtree(previous, ignore_errors=True)
