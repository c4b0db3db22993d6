"""User-facing errors: one clear message naming the file or config key and what is wrong."""


class LineageflowError(Exception):
    """Base class for errors caused by the user's input or configuration (not by a bug)."""


class InputError(LineageflowError):
    """An input file is missing, unreadable, or inconsistent with the others."""


class ConfigError(LineageflowError):
    """A configuration key has a wrong value."""
