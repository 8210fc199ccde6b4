"""What SIGINT, SIGTERM and SIGHUP do while a build runs (``client.watch.signals``).

The handler's body (:meth:`Interrupts.interrupt`) is called directly with a
fake clock and sleep; the tests that need the real thing (a handler raising
while the main thread is blocked, the handlers put back) send real signals.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field

import pytest

from cbdeploy.client.watch.signals import (
    STOP_BUDGET_SECONDS,
    WINDOW_SECONDS,
    Detach,
    Interrupted,
    Interrupts,
    exit_code,
    interrupt_on_signals,
    signal_of,
)


@dataclass
class Recorder:
    now: float = 0.0
    stops: list[float] = field(default_factory=list)
    announced: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def stop(self) -> None:
        self.stops.append(self.now)

    def interrupts(self, at_terminal: bool) -> Interrupts:
        return Interrupts(self.stop, announce=self.announced.append, at_terminal=at_terminal,
                          sleep=self.sleep, clock=self.clock, alarm=False)


def test_exit_codes_are_128_plus_the_signal() -> None:
    assert exit_code(signal.SIGINT) == 130
    assert exit_code(signal.SIGTERM) == 143
    assert exit_code(signal.SIGHUP) == 129


def test_at_a_terminal_ctrl_c_announces_then_stops_when_the_window_ends() -> None:
    r = Recorder()
    i = r.interrupts(at_terminal=True)
    i.interrupt(signal.SIGINT)
    i.check()
    assert r.announced == [WINDOW_SECONDS] and r.stops == []
    i.sleep(WINDOW_SECONDS - 0.5)
    assert r.stops == []
    i.sleep(1.0)
    assert len(r.stops) == 1 and WINDOW_SECONDS <= r.stops[0] <= WINDOW_SECONDS + 0.11
    assert i.stopping and i.budget is None  # a person at a terminal may wait as long as it takes
    with pytest.raises(Detach):  # a Ctrl-C after the stop leaves
        i.interrupt(signal.SIGINT)


def test_at_a_terminal_a_second_ctrl_c_within_the_window_leaves_and_nothing_is_stopped() -> None:
    r = Recorder()
    i = r.interrupts(at_terminal=True)
    i.interrupt(signal.SIGINT)
    i.sleep(1.0)
    with pytest.raises(Detach):
        i.interrupt(signal.SIGINT)
    assert r.stops == [] and not i.stopping and i.signum == signal.SIGINT


def test_without_a_terminal_ctrl_c_stops_at_once_and_waits_a_bounded_time() -> None:
    r = Recorder()
    i = r.interrupts(at_terminal=False)
    i.interrupt(signal.SIGINT)
    i.check()
    assert r.stops == [0.0] and r.announced == []
    with pytest.raises(Detach):
        i.sleep(STOP_BUDGET_SECONDS + 1)
    assert STOP_BUDGET_SECONDS <= r.now <= STOP_BUDGET_SECONDS + 0.11 and i.out_of_time


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_in_the_window_stops_at_once(signum: int) -> None:
    r = Recorder()
    i = r.interrupts(at_terminal=True)
    i.interrupt(signal.SIGINT)
    i.sleep(1.0)
    i.interrupt(signum)
    i.check()
    assert r.stops == [1.0] and i.signum == signum and i.budget == STOP_BUDGET_SECONDS
    with pytest.raises(Detach):  # a second one leaves at once
        i.interrupt(signum)


def test_with_nothing_to_stop_any_signal_leaves_at_once() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        i = Interrupts(alarm=False)
        with pytest.raises(Detach):
            i.interrupt(signum)
        assert exit_code(i.signum or 0) == 128 + signum


def test_the_alarm_leaves_when_the_main_thread_is_stuck_past_the_budget() -> None:
    """A real SIGTERM, then a call that never returns (a hung HTTP request, here a sleep)."""
    with Interrupts(lambda: None, budget=0.2, at_terminal=True) as interrupts:
        signal.raise_signal(signal.SIGTERM)
        began = time.monotonic()
        with pytest.raises(Detach):
            time.sleep(30)
    assert time.monotonic() - began < 10  # (it did not sleep the 30 s)
    assert interrupts.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_before_the_build_sigterm_and_sighup_end_the_command_as_ctrl_c_does(
    signum: int, code: int
) -> None:
    with pytest.raises(KeyboardInterrupt) as raised, interrupt_on_signals():
        signal.raise_signal(signum)
        time.sleep(5)
    assert isinstance(raised.value, Interrupted)
    assert exit_code(signal_of(raised.value)) == code
    assert exit_code(signal_of(KeyboardInterrupt())) == 130
    assert signal.getsignal(signum) is signal.SIG_DFL
