"""Deterministic train/test splits for datasets that ship without one.

Both splits work class by class with a generator seeded by ``(seed, class)``, so a class's
split does not change when other classes are added or removed, and the same seed gives the
same split on every machine (lecture: held-out test data; Fei-Fei et al., 2004, for the
fixed number of training images per Caltech-101 class).
"""

from __future__ import annotations

import numpy as np

from cnnkit.errors import ConfigError

__all__ = ["per_class_split", "stratified_split"]


def _class_members(labels: np.ndarray, seed: int) -> list[np.ndarray]:
    """For each class present, its indices in a seeded random order."""
    labels = np.asarray(labels)
    groups = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        groups.append(np.random.default_rng([seed, int(c)]).permutation(members))
    return groups


def stratified_split(
    labels: np.ndarray, *, test_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices so each class puts ``round(test_fraction * n)`` images in the test set."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction={test_fraction}; give a fraction strictly between 0 and 1")
    train, test = [], []
    for members in _class_members(labels, seed):
        n_test = round(test_fraction * len(members))
        if len(members) >= 2:
            n_test = min(max(n_test, 1), len(members) - 1)  # both sides see every class
        test.append(members[:n_test])
        train.append(members[n_test:])
    return _sorted(train), _sorted(test)


def per_class_split(
    labels: np.ndarray, *, train_per_class: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices so each class puts ``train_per_class`` images in training and the rest in test."""
    if train_per_class < 1:
        raise ConfigError(f"train_per_class={train_per_class}; give 1 or more")
    train, test = [], []
    for members in _class_members(labels, seed):
        train.append(members[:train_per_class])
        test.append(members[train_per_class:])
    return _sorted(train), _sorted(test)


def _sorted(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(parts)).astype(np.int64)
