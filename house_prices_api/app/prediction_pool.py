"""The threads that price batches too large to price on the event loop.

A plain ``ThreadPoolExecutor`` with one thread per core (at least two), not
anyio's shared pool, which FastAPI's ``run_in_threadpool`` uses: pricing is
CPU-bound (validation holds the GIL, ONNX Runtime runs one thread), so more
threads than cores add memory and no speed; this pool held the least memory
of the three tried (docs/benchmarks.md). Threads start on first use, so an
app that never prices a large batch starts none.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

Result = TypeVar("Result")


def create_prediction_pool() -> ThreadPoolExecutor:
    """A pool of one thread per core, at least two, so one long batch never blocks all."""
    return ThreadPoolExecutor(
        max_workers=max(2, os.cpu_count() or 1), thread_name_prefix="predict"
    )


async def run_in_pool(
    pool: ThreadPoolExecutor, function: Callable[..., Result], /, **kwargs: Any
) -> Result:
    """``function(**kwargs)`` in ``pool``, with this task's context (the request id)."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, function, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(pool, call)
