"""ParallelActions and SequentialActions: actions made of actions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Self

from .._conductor import get_conductor
from ._action import Action, ActionLifecycleHandler

__all__ = ["ParallelActions", "SequentialActions"]


class _SubEnded(ActionLifecycleHandler):
    def __init__(self, parent: Action, callback: Any) -> None:
        self.parent = parent
        self.callback = callback

    def end(self, action: Action) -> None:
        self.callback(action)


class _Composite(Action):
    """An action made of actions: shared construction, start, kill, reset."""

    def __init__(self, actions: Iterable[Action], kwargs: dict[str, Any]) -> None:
        self.actions = list(actions)
        kwargs.setdefault("name", f"{type(self).__name__} of {len(self.actions)} actions")
        super().__init__(**kwargs)
        self.processes = [p for a in self.actions for p in a.processes]
        handler = _SubEnded(self, self._sub_ended)
        for a in self.actions:
            a.lifecycle_handlers.append(handler)

    def _sub_ended(self, action: Action) -> None:
        raise NotImplementedError

    def _begin(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        """Start (see the class); returns at once."""
        if self.started:
            raise ValueError(f"{self.name} was already started; reset() it to run it again")

        def begin() -> None:
            self.started = True
            self._call_handlers("start")
            self._begin()

        get_conductor().call(begin)
        return self

    def kill(self, *args: Any, **kwargs: Any) -> Action:
        """Kill every sub-action."""
        for a in self.actions:
            a.kill(*args, **kwargs)
        return self

    def reset(self) -> Action:
        """Kill and wait if running, then reset every started sub-action."""
        if self.started and not self.ended:
            self.kill()
            self.wait()
        for a in self.actions:
            if a.started:
                a.reset()
        self._call_handlers("reset")
        self._reset_state()
        return self


class ParallelActions(_Composite):
    """Start several actions together; ends when all have ended.

    Args:
        actions: the actions (not started).
        **kwargs: the options of :class:`Action`.
    """

    def __init__(self, actions: Iterable[Action], **kwargs: Any) -> None:
        super().__init__(actions, kwargs)

    def _sub_ended(self, action: Action) -> None:
        if self.started and all(a.ended for a in self.actions):
            self._set_ended()

    def _begin(self) -> None:
        if not self.actions:
            self._set_ended()
        for a in self.actions:
            a.start()


class SequentialActions(_Composite):
    """Run several actions one after the other.

    A step that ends not ok is recorded (``ok`` is then False) and the next
    steps still run, unless ``stop_on_failure=True``: then the remaining
    steps are not started (they stay ``started=False``) and the sequence
    ends.

    Args:
        actions: the steps (not started).
        stop_on_failure: stop at the first step that is not ok.
        **kwargs: the options of :class:`Action`.
    """

    def __init__(
        self, actions: Iterable[Action], stop_on_failure: bool = False, **kwargs: Any
    ) -> None:
        self.stop_on_failure = stop_on_failure
        self._next = 0
        super().__init__(actions, kwargs)

    def _launch_next(self) -> None:
        # Conductor thread.
        if self._next >= len(self.actions):
            self._set_ended()
            return
        action = self.actions[self._next]
        self._next += 1
        action.start()

    def _sub_ended(self, action: Action) -> None:
        if not self.started or self.ended:
            return
        if self.stop_on_failure and not action.ok:
            self._set_ended()
            return
        self._launch_next()

    def _begin(self) -> None:
        self._next = 0
        self._launch_next()

    def kill(self, *args: Any, **kwargs: Any) -> Action:
        """Kill the running step and start no further one."""

        def stop() -> None:
            self._next = len(self.actions)

        get_conductor().call(stop)
        return super().kill(*args, **kwargs)
