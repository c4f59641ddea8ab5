"""``Idempotency-Key`` for creating POSTs (DESIGN §5).

A retry with the same key and body returns the first response; the same key with another body is
422. The record is written in the same transaction as the creation, so a failed request leaves
no record and can be retried.

A route declares it with ``@idempotent`` under its ``@router.post(...)``: the decorator adds the
guard to the route's dependencies, answers a replay before the route body runs and remembers
the route's answer (its status and ``ETag``/``Location``) after it, so a route cannot do one
half and forget the other (#16 point 5; ``tests/api/test_idempotency_coverage.py``). A route
whose body is streamed (``POST /imports``) builds its guard from what it read and hands the
work to ``IdempotencyGuard.once``, which does both halves too.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select

from app.auth.principal import authenticate
from app.clock import ClockDep
from app.db import SessionDep
from app.domain.access import Principal
from app.errors import Unprocessable
from app.models import IdempotencyRecord

_T = TypeVar("_T")

REPLAY_HEADER = "Idempotent-Replayed"
#: Headers of the first answer that a replay repeats (the rest are the request's own).
KEPT_HEADERS = ("ETag", "Location")


class IdempotencyGuard:
    def __init__(
        self,
        *,
        session: Any,
        principal: Principal,
        key: str | None,
        method_path: str,
        body_hash: str,
        now: dt.datetime,
        status_code: int = 201,
        response: Response | None = None,
    ) -> None:
        self.session = session
        self.principal = principal
        self.key = key
        self.method_path = method_path
        self.body_hash = body_hash
        self.now = now
        self.status_code = status_code  # the route's declared status
        self.response = response  # where the route sets headers (ETag, Location)

    def replay(self) -> JSONResponse | None:
        if not self.key:
            return None
        record = self.session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.principal == self.principal.principal_key,
                IdempotencyRecord.key == self.key,
            )
        )
        if record is None:
            return None
        if record.request_hash != self.body_hash or record.method_path != self.method_path:
            raise Unprocessable(
                "This Idempotency-Key was used with a different request",
                code="IDEMPOTENCY_KEY_REUSED",
            )
        headers = dict(record.response_headers)
        headers[REPLAY_HEADER] = "true"
        return JSONResponse(record.response_body, status_code=record.status_code, headers=headers)

    def remember(
        self, status_code: int, body: BaseModel, headers: dict[str, str] | None = None
    ) -> None:
        if not self.key:
            return
        self.session.add(
            IdempotencyRecord(
                principal=self.principal.principal_key,
                key=self.key,
                method_path=self.method_path,
                request_hash=self.body_hash,
                status_code=status_code,
                response_body=jsonable_encoder(body),
                response_headers=headers or {},
                created_at=self.now,
            )
        )
        self.session.flush()

    def once(self, produce: Callable[[], _T]) -> _T | JSONResponse:
        """The first answer again for a retry; otherwise ``produce()``'s, remembered with the
        route's status and the kept headers the route set."""
        if (replay := self.replay()) is not None:
            return replay
        result = produce()
        self.remember_result(result)
        return result

    def remember_result(self, result: object) -> None:
        if isinstance(result, Response):  # an answer built by hand (a problem): not kept
            return
        if not isinstance(result, BaseModel):
            raise TypeError("an idempotent route answers with a response model")
        status, headers = self.status_code, {}
        if self.response is not None:
            status = self.response.status_code or status
            kept = self.response.headers
            headers = {h: kept[h] for h in KEPT_HEADERS if h in kept}
        self.remember(status, result, headers)


async def get_idempotency(
    request: Request,
    response: Response,
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Depends(authenticate)],
) -> IdempotencyGuard:
    key = request.headers.get("idempotency-key")
    if key is not None and not (1 <= len(key) <= 200):
        raise Unprocessable(
            "Idempotency-Key must be 1 to 200 characters",
            code="VALIDATION_ERROR",
            extra={
                "errors": [
                    {"field": "header.Idempotency-Key", "message": "1-200 chars", "type": "len"}
                ]
            },
        )
    body = await request.body()
    method_path = f"{request.method} {request.url.path}"
    body_hash = hashlib.sha256(method_path.encode() + b"\n" + body).hexdigest()
    # The route's declared status (201 for a creating POST, 200 when it declares none) and the
    # response the route sets headers on (FastAPI hands the same object to every dependency).
    return IdempotencyGuard(
        session=session,
        principal=principal,
        key=key,
        method_path=method_path,
        body_hash=body_hash,
        now=clock.now(),
        status_code=getattr(request.scope.get("route"), "status_code", None) or 200,
        response=response,
    )


_Guard = Annotated[IdempotencyGuard, Depends(get_idempotency)]
_PARAM = "idempotency_guard_"
_F = TypeVar("_F", bound=Callable[..., Any])


def idempotent(endpoint: _F) -> _F:
    """Route decorator (under ``@router.post``): honour ``Idempotency-Key`` (DESIGN §5).

    The endpoint gains a keyword-only dependency on the guard; a retry is answered with the
    first answer before the endpoint runs, and the endpoint's answer is remembered in the same
    transaction once it returns. An endpoint that returns a ``Response`` of its own (a
    problem) is not remembered: only a kept creation is."""
    signature = inspect.signature(endpoint)
    if _PARAM in signature.parameters:
        raise TypeError(f"{endpoint.__qualname__} is already idempotent")
    guard_param = inspect.Parameter(_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=_Guard)
    wrapped_signature = signature.replace(parameters=[*signature.parameters.values(), guard_param])

    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            guard: IdempotencyGuard = kwargs.pop(_PARAM)
            if (replay := guard.replay()) is not None:
                return replay
            result = await endpoint(*args, **kwargs)
            guard.remember_result(result)
            return result

        wrapper: Any = run_async
    else:

        @functools.wraps(endpoint)
        def run(*args: Any, **kwargs: Any) -> Any:
            guard: IdempotencyGuard = kwargs.pop(_PARAM)
            return guard.once(lambda: endpoint(*args, **kwargs))

        wrapper = run
    # FastAPI reads this signature; the endpoint's own (string) annotations are resolved in its
    # own module (it unwraps ``__wrapped__`` for the globals), the guard's is an object.
    wrapper.__signature__ = wrapped_signature
    wrapper.__idempotent__ = True
    return wrapper  # type: ignore[no-any-return]


def is_idempotent(endpoint: Callable[..., Any]) -> bool:
    """Whether a route's endpoint was declared with ``@idempotent``."""
    return bool(getattr(endpoint, "__idempotent__", False))
