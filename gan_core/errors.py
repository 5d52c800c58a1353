"""User-facing errors: each one's str() is a single clear line, shown without a traceback."""


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
