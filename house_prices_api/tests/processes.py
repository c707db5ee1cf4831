"""The processes of a running server, for the tests that watch its workers.

The /proc reading is ``scripts.local_processes``'s (shared with the
benchmarks); log waiting is the servers module's.
"""

from __future__ import annotations

from servers import wait_until_logged

from scripts.local_processes import children, wait_for_workers, worker_pids

__all__ = ["children", "wait_for_workers", "wait_until_logged", "worker_pids"]
