"""The services' collector settings: a larger young generation, start-up state frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from streams.gc_tuning import YOUNG_THRESHOLD, freeze_startup_objects, tune_collector


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restore_gc")
def test_young_threshold_raised_older_generations_kept() -> None:
    _, older, oldest = gc.get_threshold()
    tune_collector()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, older, oldest)


@pytest.mark.usefixtures("restore_gc")
def test_startup_objects_leave_later_collections_but_cycles_are_still_collected() -> None:
    freeze_startup_objects()
    assert gc.get_freeze_count() > 0

    class Node:
        def __init__(self) -> None:
            self.me = self

    Node()  # an unreachable cycle made after the freeze
    assert gc.collect() >= 1
