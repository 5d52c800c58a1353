"""User-facing errors: each one's str() is a single clear line, shown without a traceback."""
import errno


class GanError(Exception):
    """Base class for errors a user can fix (bad input, bad file, bad setting)."""


class ConfigError(GanError):
    """An invalid hyper-parameter or setting."""


class DataError(GanError):
    """A dataset that cannot be read or understood."""


class ModelFileError(GanError):
    """A model file that cannot be used for generation."""


class RunError(GanError):
    """A run directory that cannot be used for the requested action."""


MEMORY_HINT = "use smaller settings (batch size, hidden, snapshot samples) or data"


class OutOfMemory(GanError):
    """Memory ran out (torch's allocator or Python's): the settings ask for more than the machine has."""

    def __init__(self, message: str = f"out of memory; {MEMORY_HINT}"):
        super().__init__(message)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether exc is an allocation failure: MemoryError, or torch's RuntimeError from its allocator
    ("DefaultCPUAllocator: can't allocate memory", "not enough memory", CUDA's "out of memory")."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("can't allocate memory", "not enough memory", "out of memory", "failed to allocate"))


class DiskFull(RunError):
    """No space left where a run writes (or its quota is used up): the run stops, its last checkpoint kept."""


def is_disk_full(exc: BaseException) -> bool:
    """Whether exc is a write refused for want of space: ENOSPC, or EDQUOT (a quota)."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
