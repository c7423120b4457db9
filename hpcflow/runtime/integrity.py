"""Content hashes of artifacts on the shared filesystem: recorded by the producer, checked
by every consumer before its OP starts.

Artifacts are passed by path, so anything (an OP that edits its inputs, a user, another
workflow) can change a file between the step that made it and a step that reads it. The
producer's runtime records, for each output path, the sha256 of its content (a file's
bytes; a directory's sorted relative paths and file hashes) and a stat fingerprint (size,
mtime, ctime, inode of each file). The engine hands the records of a unit's input paths
to it in ``task.json`` (``input_hashes``), and the consumer's runtime checks them:

- a path whose fingerprint is unchanged is unchanged (a write always moves mtime and
  ctime, and ctime cannot be set back), so a consumer normally reads no input byte;
- a path whose fingerprint changed is hashed again and must match, else the unit fails
  with :class:`~hpcflow.errors.ChecksumMismatch` naming the step, the input and the file.

So each output byte is read once more by its producer (to hash it), and a consumer pays
one ``stat`` per input file. Sub-paths of an artifact (``.sub_path("a/b")``) and uploaded
artifacts carry no record and are not checked. On S3, each download is checked against
the manifest the producer wrote instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpcflow.errors import ChecksumMismatch, StorageError

if TYPE_CHECKING:
    from hpcflow.spec.model import TaskRecord


def leaves(value: Any) -> list[str]:
    """Every path of a path / list / dict artifact value, in order."""
    from hpcflow.storage.remote import map_leaves

    found: list[str] = []
    map_leaves(value, lambda leaf, _position: found.append(leaf))
    return found


def record_outputs(artifacts: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``{path: {"sha256": ..., "stat": ...}}`` for every output artifact path."""
    if not artifacts:
        return {}
    from hpcflow.storage.hashing import content_hash, stat_digest

    records: dict[str, dict[str, str]] = {}
    for value in artifacts.values():
        for path in leaves(value):
            if path not in records:
                fingerprint = stat_digest(path)  # before hashing: a change meanwhile shows later
                records[path] = {"sha256": content_hash(path), "stat": fingerprint}
    return records


def verify_inputs(task: TaskRecord) -> None:
    """Raise ChecksumMismatch if an input artifact differs from what its producer recorded."""
    recorded = task.input_hashes
    if not recorded:
        return
    from hpcflow.storage.hashing import content_hash, stat_digest

    step = task.step or "?"
    for name, value in task.artifacts.items():
        for path in leaves(value):
            rec = recorded.get(path)
            if rec is None:
                continue
            where = f"step {step}: input artifact {name!r}: {path}"
            source = f"step {rec['step']}" if rec.get("step") else "its producer"
            try:
                if stat_digest(path) == rec.get("stat"):
                    continue
                actual = content_hash(path)
            except (OSError, StorageError) as exc:  # deleted or unreadable
                reason = getattr(exc, "strerror", None) or str(exc)
                raise ChecksumMismatch(f"{where} is gone or unreadable since {source} produced "
                                       f"it ({reason})") from None
            if actual != rec["sha256"]:
                raise ChecksumMismatch(
                    f"{where} changed after {source} produced it (sha256 {rec['sha256'][:12]}... "
                    f"recorded, {actual[:12]}... now): was it edited in place?"
                )
