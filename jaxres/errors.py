"""Errors a user can act on.

Every error that comes from the user's input (data, config, weights, command line) is a `UserError`:
the command line prints its one-line message and exits with status 2 instead of a traceback.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from the user. `str(err)` is one line: where, then what is wrong and what to do."""

    def __init__(self, message: str, *, where: str | None = None):
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


class DataError(UserError):
    """A data set record is unusable. `where` is "file:row" (or "file:line", "file[key]")."""


class ConfigError(UserError):
    """An unknown or invalid configuration key or value."""


class WeightsError(UserError):
    """A weights file that does not fit the model, or cannot be read or fetched."""
