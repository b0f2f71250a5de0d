"""Checks of the constructor options every classifier family shares (one message for each mistake)."""

from __future__ import annotations

from cnnkit.errors import ConfigError

__all__ = ["check_classifier_options"]


def check_classifier_options(model: str, *, dropout: float, **sizes: int) -> None:
    """Each of ``sizes`` (num_classes, in_chans, input_size, ...) at least 1; dropout in [0, 1)."""
    for option, value in sizes.items():
        if value < 1:
            raise ConfigError(f"{model} needs {option} of at least 1, got {value}")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"{model} dropout must be in [0, 1), got {dropout}")
