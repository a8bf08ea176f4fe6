"""Frozen start-up objects: out of every collection until a swap gives them back."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from melancia import heap


class Loaded:
    """Stands for a loaded model: an object in a reference cycle."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_frozen_objects_are_left_out_of_collections() -> None:
    loaded = Loaded()
    heap.freeze_loaded()

    gc.collect()

    walked = (o for generation in range(3) for o in gc.get_objects(generation=generation))
    assert not any(o is loaded for o in walked)
    assert gc.is_tracked(loaded) and gc.get_freeze_count() > 0


def test_freezing_first_frees_what_is_already_garbage() -> None:
    garbage = weakref.ref(_cycle())
    heap.freeze_loaded()
    assert garbage() is None


def test_refreeze_frees_a_frozen_object_that_was_let_go() -> None:
    old = Loaded()
    gone = weakref.ref(old)
    heap.freeze_loaded()
    del old
    gc.collect()
    assert gone() is not None  # frozen: its cycle is never looked at

    heap.refreeze()

    assert gone() is None
    assert gc.get_freeze_count() > 0


def _cycle() -> Loaded:
    return Loaded()


def test_thaw_gives_every_frozen_object_back() -> None:
    heap.freeze_loaded()
    heap.thaw()
    assert gc.get_freeze_count() == 0


def test_loading_holds_the_collector_off_then_freezes() -> None:
    assert gc.isenabled()
    with heap.loading():
        assert not gc.isenabled()
        loaded = Loaded()
    assert gc.isenabled()
    walked = (o for generation in range(3) for o in gc.get_objects(generation=generation))
    assert not any(o is loaded for o in walked)


def test_a_failed_load_leaves_the_collector_on() -> None:
    with pytest.raises(RuntimeError), heap.loading():
        raise RuntimeError("no weights")
    assert gc.isenabled()
