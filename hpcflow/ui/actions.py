"""Cancel and retry from the dashboard: the same library calls as ``hpcflow cancel/retry``.

The one part of the dashboard that writes, and the only one that imports the engine: it
is imported only when the server runs with ``--allow-actions`` (and every POST carries
the CSRF token, checked in :mod:`hpcflow.ui.app`). It opens the store read-write through
the client, as the CLI does, under the tick lock; the pages keep their read-only
connection. A retried workflow runs when the daemon or cron next ticks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpcflow.client import get_client
from hpcflow.errors import HpcflowError


def _client(store_path: Path) -> Any:
    """The client whose store is the one the dashboard serves (a local Client)."""
    client = get_client(home=store_path.parent)
    if client.store.path.resolve() != store_path.resolve():
        raise HpcflowError(f"the dashboard serves {store_path}, not {client.store.path}")
    return client


def cancel(store_path: Path, wf_id: str) -> str:
    """Cancel a pending or running workflow's jobs and mark it failed (``hpcflow cancel``)."""
    client = _client(store_path)
    wf = client.store.get_workflow(wf_id)
    if wf["status"] not in ("Pending", "Running"):
        raise HpcflowError(f"workflow {wf['id']} is already {wf['status']}")
    with client.lock:
        n = client.engine(only={wf["id"]}).cancel(wf["id"])
    return f"cancelled {wf['id']} ({n} job(s))"


def retry(store_path: Path, wf_id: str) -> str:
    """Reset the failed steps of a failed workflow (``hpcflow retry --no-wait``)."""
    from hpcflow.engine.engine import reset_failed

    client = _client(store_path)
    wf = client.store.get_workflow(wf_id)
    if wf["status"] != "Failed":
        raise HpcflowError(f"workflow {wf['id']} is {wf['status']}; only failed workflows can be retried")
    with client.lock:
        n = reset_failed(client.store, wf["id"])
    return (f"retrying {n} failed step(s) of {wf['id']}: the daemon or the next "
            "`hpcflow tick` runs them")
