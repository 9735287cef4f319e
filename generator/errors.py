"""The exception hierarchy. Imports nothing.

Every mistake a user can make (a bad settings file, a definition that raises, an
invalid dashboard) is one of these; the CLI turns them into one line and exit 1.
"""


class QueuedashError(Exception):
    """Base of every error queuedash reports to a user as one line."""


class SettingsError(QueuedashError):
    """The settings file, an environment variable or an option is wrong."""


class NamingError(QueuedashError):
    """A queue, task or host name cannot be turned into a metric path."""


class DefinitionError(QueuedashError):
    """A dashboard definition failed or produced something invalid."""


class ValidationError(QueuedashError):
    """A built dashboard breaks a rule Grafana or queuedash relies on."""


class InputError(QueuedashError):
    """A file or dashboard given to queuedash (deploy --from, validate) is not what it should be."""
