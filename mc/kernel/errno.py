"""The error numbers operations return, and how traces print them."""

EPERM = 1
ENOENT = 2
EIO = 5
ECHILD = 10
EAGAIN = 11
EFAULT = 14
EBUSY = 16
EEXIST = 17
EXDEV = 18
ENOTDIR = 20
EISDIR = 21
EINVAL = 22
ENOSPC = 28
ENOTEMPTY = 39
ESTALE = 116

NAMES = {
    value: name
    for name, value in sorted(globals().items())
    if name.startswith("E") and isinstance(value, int)
}


def render(value: int | None) -> str:
    """A return value as the kernel would spell it: ``0``, ``-ENOENT``."""
    if value is None:
        return "none"
    if value < 0 and -value in NAMES:
        return f"-{NAMES[-value]}"
    return str(value)
