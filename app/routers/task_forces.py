from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/task-forces", tags=["task_forces"])
