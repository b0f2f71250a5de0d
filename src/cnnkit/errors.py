"""Errors a user can cause, each with a message that says what was wrong and how to fix it.

The CLI catches ``CnnkitError``, prints its message on one line and exits with code 2;
``--debug`` shows the traceback instead. Everything else is a bug in cnnkit.
"""

from __future__ import annotations

__all__ = [
    "CnnkitError",
    "ConfigError",
    "UnknownModelError",
    "UnknownDatasetError",
    "DataError",
    "MissingDataError",
    "CorruptDataError",
    "ImageError",
    "RunDirError",
    "OutputError",
    "WeightsError",
    "CheckpointError",
    "ExportError",
    "TrainingInterrupted",
]


class CnnkitError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""


class ConfigError(CnnkitError):
    """An option or configuration value out of range or of the wrong kind."""


class UnknownModelError(CnnkitError):
    """A model name that is not in the registry."""


class UnknownDatasetError(CnnkitError):
    """A dataset name that cnnkit does not know."""


class DataError(CnnkitError):
    """Data files that cannot be used."""


class MissingDataError(DataError):
    """Data files that are not found anywhere cnnkit looks and cannot be downloaded."""


class CorruptDataError(DataError):
    """Data files that exist but are truncated, malformed or fail their checksum."""


class ImageError(CnnkitError):
    """A file given as an image that cannot be decoded as one."""


class RunDirError(CnnkitError):
    """A run directory that does not exist or lacks the files a command needs."""


class OutputError(CnnkitError):
    """An output location that cannot be written."""


class ExportError(CnnkitError):
    """A model that the chosen export format cannot express."""


class CheckpointError(RunDirError):
    """A run directory whose checkpoint is missing, corrupt or does not fit the run."""


class TrainingInterrupted(Exception):
    """Training stopped on a signal; its run directory holds a checkpoint to resume from.

    Not a CnnkitError: nothing was wrong with the input. The CLI exits with ``exit_code``
    (the shell's convention 128 + signal: 130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, message: str, *, run_dir: object, signum: int) -> None:
        super().__init__(message)
        self.run_dir = run_dir
        self.signum = signum
        self.exit_code = 128 + signum


class WeightsError(CnnkitError):
    """A weights file that cannot be read safely, or whose tensors do not fit the model."""
