"""One clock for the whole service, so time-driven rules are tested at pinned dates."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Request


class Clock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        return self.now().date()


class FixedClock(Clock):
    """A clock that stands still until moved (tests, replays)."""

    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, delta: dt.timedelta) -> None:
        self.at = self.at + delta


async def get_clock(request: Request) -> Clock:
    # async: no I/O, so it need not cross to FastAPI's threadpool (app.auth.principal).
    clock: Clock = request.app.state.clock
    return clock


ClockDep = Annotated[Clock, Depends(get_clock)]
