"""Writing files so that a crash or an error never leaves half a file.

A file is written to a temporary ``.NAME.PID.XXXXXXXX`` in the same
directory and renamed over ``NAME`` once complete, with the permissions an
ordinary ``open()`` would give it (the umask's, or the mode of the file it
replaces).  A FIFO or a device is written into instead, and a descriptor
of this process named by its path (``/dev/stdout``) is written to.  An
error or SIGTERM removes the temporary file; one left by a process that
was killed outright (SIGKILL, a power cut) is removed by the next save of
the same name, once the process that made it is gone.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import stat
import sys
import tempfile
from pathlib import Path

_TEMPORARY = re.compile(r"(\d+)\.[A-Za-z0-9_]{8}")


class WriteError(OSError):
    """A file that could not be written; the message names it."""

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


def write_atomically(path: Path, data: bytes | str, errors: str = "strict") -> None:
    """Write ``data`` to ``path`` through a temporary file in the same
    directory, renamed over ``path`` once complete; a ``path`` that is a
    symbolic link has the file it points to written, as ``open()`` would
    (in a directory that must exist), one that is neither a regular
    file nor a directory (a FIFO, a device such as ``/dev/stdout``) is
    written into, never replaced, and one this process may not write, as
    ``open()`` may not, is an error (renaming over it would replace it).
    Text is written as UTF-8, ``errors`` as ``str.encode`` takes it: a
    chart or a page may escape a lone surrogate (``backslashreplace``); a
    file that must parse again (TOML) may not, and raises instead."""
    payload = data.encode("utf-8", errors) if isinstance(data, str) else data
    stream = stream_of(path)
    if stream is not None:
        _write_to_descriptor(stream, payload, path)
        return
    if path.is_symlink():
        link, path = path, Path(os.path.realpath(path))
        if path.is_symlink():
            raise WriteError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
        if not path.parent.is_dir():
            astray = f"it links to {path}, in a directory that does not exist"
            raise WriteError(errno.ENOENT, astray, str(link))
    if path.is_dir():
        raise WriteError(errno.EISDIR, os.strerror(errno.EISDIR), str(path) or ".")
    if path.exists() and not os.access(path, os.W_OK):
        raise WriteError(errno.EACCES, os.strerror(errno.EACCES), str(path))
    if _special(path):
        try:
            with open(path, "wb") as out:
                out.write(payload)
        except OSError as error:
            raise WriteError(error.errno, error.strerror, str(path)) from None
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", dir=path.parent)
    except (FileExistsError, NotADirectoryError) as error:
        blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        reason = f"{blocking} is not a directory" if blocking else error.strerror
        raise WriteError(error.errno, reason, str(path)) from None
    except OSError as error:
        reason = error.strerror
        if path.parent.is_dir():
            reason = f"no file can be made in {path.parent} to write it through ({reason})"
        raise WriteError(error.errno, reason, str(path)) from None
    try:
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), _mode_for(path))
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, WriteError):
            raise WriteError(error.errno, error.strerror, str(path)) from None
        raise
    sweep(path)


_DESCRIPTOR = re.compile(r"/dev/fd/(\d+)|/proc/self/fd/(\d+)|/proc/(\d+)/fd/(\d+)")
_STANDARD = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}


def stream_of(path: Path) -> int | None:
    """The descriptor of this process that ``path`` names, through its
    symbolic links (``/dev/stdout``, ``/dev/fd/3``, ``/proc/self/fd/1`` or
    a link to one of them), or None: writing there is writing to the
    descriptor, as a shell's redirection set it up (appending, say)."""
    current = os.path.abspath(path)
    for _hop in range(40):
        if current in _STANDARD and not os.path.islink(current):
            return _STANDARD[current]
        found = _DESCRIPTOR.fullmatch(current)
        if found is not None:
            pid = found.group(3)
            if pid is None or int(pid) == os.getpid():
                return int(next(group for group in found.groups()[::-1] if group is not None))
            return None
        if not os.path.islink(current):
            return None
        current = os.path.normpath(os.path.join(os.path.dirname(current), os.readlink(current)))
    return None


def _write_to_descriptor(descriptor: int, payload: bytes, path: Path) -> None:
    """Write ``payload`` to ``descriptor`` after what this process's own
    stream on it (``sys.stdout``, ``sys.stderr``) holds."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, OSError, ValueError):
            if stream.fileno() == descriptor:
                stream.flush()
    view = memoryview(payload)
    try:
        while view:
            view = view[os.write(descriptor, view) :]
    except BrokenPipeError:
        raise
    except OSError as error:
        raise WriteError(error.errno, error.strerror, str(path)) from None


def _special(path: Path) -> bool:
    """Whether ``path`` exists and is neither a regular file nor a directory."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _mode_for(path: Path) -> int:
    with contextlib.suppress(OSError):
        return stat.S_IMODE(path.stat().st_mode)
    return 0o666 & ~current_umask()


def current_umask() -> int:
    """The process's umask."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def sweep(path: Path) -> list[Path]:
    """Remove the temporary files of ``path`` left by processes that no
    longer run; returns them."""
    removed = []
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.*"):
        found = _TEMPORARY.fullmatch(leftover.name[len(path.name) + 2 :])
        if found and not _running(int(found.group(1))):
            with contextlib.suppress(OSError):
                leftover.unlink()
                removed.append(leftover)
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
