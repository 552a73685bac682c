"""Test tripwire: log every TenSEAL context a process creates or loads, and whether it holds a
secret key. A test puts this folder on ``PYTHONPATH`` of the platform's services (never of the
participants) and sets ``CONSORTIUM_TEST_CONTEXT_LOG``; each line is ``<pid> <how> <private>``.
"""

from __future__ import annotations

import os

_LOG = os.environ.get("CONSORTIUM_TEST_CONTEXT_LOG")

if _LOG:
    import tenseal

    def _watched(create):
        def wrapper(*args, **kwargs):
            context = create(*args, **kwargs)
            with open(_LOG, "a", encoding="utf-8") as log:
                log.write(f"{os.getpid()} {create.__name__} {context.is_private()}\n")
            return context

        return wrapper

    tenseal.context = _watched(tenseal.context)
    tenseal.context_from = _watched(tenseal.context_from)
