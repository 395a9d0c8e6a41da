"""Errors a user can act on: a `UserError` (data, config, weights, command line) is printed as one line
with exit status 2, not a traceback."""

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
