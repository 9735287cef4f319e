"""Task name -> queue, for events that do not say (every event but task-sent).

The event monitor learns a task's queue from its ``task-sent`` event when
producers set ``task_send_sent_event``. Otherwise it asks, in order:

1. the routes given on the command line (``--route 'proj.emails.*=emails'``,
   glob patterns, first match wins);
2. the Celery app's own ``task_routes`` (``--app``), through Celery's router
   functions, so maps, globs, regexes and router callables all work;
3. the default queue, ``unknown`` unless ``--default-queue`` says otherwise.

Answers are cached per task name (bounded): a router is Python code.

Imports the standard library; Celery only inside `from_app`.
"""

from __future__ import annotations

import logging
from fnmatch import fnmatchcase

from queuedash.agent.keys import UNKNOWN

log = logging.getLogger(__name__)


def parse_route(text: str) -> tuple[str, str]:
    """'PATTERN=QUEUE' -> (pattern, queue)."""
    pattern, sep, queue = text.partition("=")
    if not sep or not pattern.strip() or not queue.strip():
        raise ValueError(f"a route is PATTERN=QUEUE (e.g. 'proj.emails.*=emails'), got {text!r}")
    return pattern.strip(), queue.strip()


def _queue_name(answer) -> str | None:
    """The queue name in whatever a Celery router returned (str, dict, Queue)."""
    if answer is None:
        return None
    if isinstance(answer, str):
        return answer
    if isinstance(answer, dict):
        answer = answer.get("queue")
        if answer is None:
            return None
    name = getattr(answer, "name", answer)
    return name if isinstance(name, str) and name else None


class QueueResolver:
    """Maps a task name to the queue it is routed to."""

    def __init__(self, routes=(), routers=(), default: str = UNKNOWN, cache_size: int = 10000):
        self.routes = [parse_route(r) if isinstance(r, str) else tuple(r) for r in routes]
        self.routers = list(routers)
        self.default = default or UNKNOWN
        self._cache: dict[str, str] = {}
        self._cache_size = cache_size

    @classmethod
    def from_app(cls, app, routes=(), default: str = UNKNOWN) -> QueueResolver:
        """Routes from the command line first, then the app's task_routes."""
        from celery.app.routes import prepare

        return cls(routes=routes, routers=prepare(app.conf.task_routes), default=default)

    def __call__(self, task_name: str | None) -> str:
        if not task_name:
            return self.default
        queue = self._cache.get(task_name)
        if queue is None:
            queue = self._resolve(task_name)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[task_name] = queue
        return queue

    def _resolve(self, task_name: str) -> str:
        for pattern, queue in self.routes:
            if fnmatchcase(task_name, pattern):
                return queue
        for router in self.routers:
            try:
                queue = _queue_name(router(task_name, (), {}, {}, task=None))
            except Exception:  # a user's router: its bug must not stop the monitor
                log.warning("task router %r failed for %s", router, task_name, exc_info=True)
                continue
            if queue:
                return queue
        return self.default
