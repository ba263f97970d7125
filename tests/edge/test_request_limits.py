"""The edge's moving-window rate limit, on a controlled clock."""

from __future__ import annotations

from limits import parse

from api_edge.request_limits import MovingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_admits_the_limit_per_window_and_says_when_the_next_is_admitted() -> None:
    clock = Clock()
    window = MovingWindow(parse("3/second"), clock=clock)
    assert [window.hit("a") for _ in range(3)] == [None, None, None]
    clock.now += 0.25
    wait = window.hit("a")
    assert wait is not None and abs(wait - 0.75) < 1e-9
    # Another identity has its own window.
    assert window.hit("b") is None
    # The window moves: once the first hits are a second old, there is room again.
    clock.now += 0.75
    assert window.hit("a") is None
    assert window.hit("a") is None
    assert window.hit("a") is None
    assert window.hit("a") is not None


def test_a_refused_hit_is_not_counted() -> None:
    clock = Clock()
    window = MovingWindow(parse("1/minute"), clock=clock)
    assert window.hit("a") is None
    for _ in range(10):
        clock.now += 1
        assert window.hit("a") is not None
    clock.now = 1000.0 + 60.0
    assert window.hit("a") is None


def test_idle_identities_are_swept() -> None:
    clock = Clock()
    window = MovingWindow(parse("5/second"), clock=clock)
    for i in range(100):
        window.hit(f"shopper-{i}")
    clock.now += 2.0
    window.hit("active")
    assert list(window._hits) == ["active"]
