"""One exception family whose messages a user can act on.

The CLI catches only :class:`GridqError`, prints its message on one line and exits with
:data:`EXIT_CODE`. Any other exception is a bug and keeps its traceback.
"""

EXIT_CODE = 2


class GridqError(Exception):
    """A problem the user can fix: the message says what, where, and how."""

    def with_context(self, where: str) -> "GridqError":
        """Return the same kind of error with ``where`` (a file, usually) put in front."""
        return type(self)(f"{where}: {self}")


class ConfigError(GridqError):
    """A YAML config (site, run or params) is missing, malformed or out of range."""


class InputError(GridqError):
    """A table (timeseries or dispatch) is missing, unreadable or breaks a convention."""


class BundleError(GridqError):
    """A run bundle lacks a file that the requested step needs."""


class InfeasibleError(GridqError):
    """The site cannot be balanced within its limits."""


class SolverError(GridqError):
    """HiGHS stopped without an optimal answer (time limit, numerical trouble)."""


class DeviceError(GridqError):
    """A device did not answer, or refused a read or a write."""
