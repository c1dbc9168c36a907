"""The program's own failures.

A dead link is data (a ``CheckResult``), never an exception.  These are for
things that stop linkwatch itself: a bad catalog, an unusable state
database, a GitHub API refusal.  The CLI turns each into one line on stderr
and exit code 2, so their ``str()`` must already be that line.
"""

from __future__ import annotations


class LinkwatchError(Exception):
    """Base of every error the CLI reports as one line."""


class CatalogError(LinkwatchError):
    """A catalog (or Markdown source) that cannot be used.

    The message names the file, the line and, where known, the key:
    ``catalog.toml:12: link.url: 'htp://x' is not an http(s) URL``.
    """

    def __init__(self, path: str, line: int | None, message: str, key: str | None = None) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.message = message
        where = f"{path}:{line}" if line else path
        what = f"{key}: {message}" if key else message
        super().__init__(f"{where}: {what}")


class StateError(LinkwatchError):
    """The history database is unreadable, locked or from a newer version."""


class GitHubError(LinkwatchError):
    """The GitHub API refused or failed a request we cannot do without."""


class ReportError(LinkwatchError):
    """A report folder that cannot be written."""
