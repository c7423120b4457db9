"""What the dashboard reads from attempt directories: logs, exit records, images.

Paths come from the store only (an attempt's ``dir``, an output artifact's recorded
path), never from a request. Reads are bounded: a log is shown by its tail and streamed
in chunks, an exit record is read only if small, an image only if it is a regular file
of a known type under a size cap.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOG_FILE = "log.txt"
EXIT_FILE = "exit.json"
#: The most of a log a page shows, and the most one streamed chunk carries.
LOG_TAIL_BYTES = 64 * 1024
EXIT_RECORD_MAX = 256 * 1024
IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}
IMAGE_MAX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class LogChunk:
    """Bytes ``start``..``end`` of a log of ``size`` bytes, decoded for display."""

    text: str
    start: int
    end: int
    size: int
    exists: bool

    @property
    def truncated(self) -> bool:
        return self.start > 0


@dataclass(frozen=True)
class LogSource:
    """Where an attempt's log is: its own file, or a window of its job's merged log (a
    unit that succeeded; its exit record says where). Offsets are within the window."""

    path: Path
    lo: int = 0
    hi: int | None = None

    def exists(self) -> bool:
        return self.path.exists()


def log_path(attempt: dict[str, Any]) -> LogSource:
    own = Path(attempt["dir"]) / LOG_FILE
    if own.exists():
        return LogSource(own)
    where = (exit_record(attempt) or {}).get("log")
    if isinstance(where, dict) and isinstance(where.get("offset"), int) and isinstance(where.get("length"), int):
        return LogSource(Path(str(where.get("file"))), where["offset"], where["offset"] + where["length"])
    return LogSource(own)


def _window(fh: Any, source: LogSource) -> int:
    """The window's size within the open file."""
    size = os.fstat(fh.fileno()).st_size
    hi = size if source.hi is None else min(size, source.hi)
    return max(0, hi - source.lo)


def read_tail(source: LogSource | Path, max_bytes: int = LOG_TAIL_BYTES) -> LogChunk:
    """The last ``max_bytes`` of a log, starting at a line boundary when cut."""
    source = source if isinstance(source, LogSource) else LogSource(Path(source))
    try:
        with open(source.path, "rb") as fh:
            size = _window(fh, source)
            start = max(0, size - max_bytes)
            fh.seek(source.lo + start)
            data = fh.read(min(max_bytes, size - start))
    except FileNotFoundError:
        return LogChunk("", 0, 0, 0, exists=False)
    if start > 0:
        cut = data.find(b"\n")
        if 0 <= cut < len(data) - 1:
            data, start = data[cut + 1:], start + cut + 1
    return LogChunk(_decode(data), start, start + len(data), size, exists=True)


def read_from(source: LogSource | Path, offset: int, max_bytes: int = LOG_TAIL_BYTES) -> LogChunk:
    """Up to ``max_bytes`` of a log from ``offset`` (what a streaming client polls for)."""
    source = source if isinstance(source, LogSource) else LogSource(Path(source))
    try:
        with open(source.path, "rb") as fh:
            size = _window(fh, source)
            offset = min(max(0, offset), size)
            fh.seek(source.lo + offset)
            data = fh.read(min(max_bytes, size - offset))
    except FileNotFoundError:
        return LogChunk("", 0, 0, 0, exists=False)
    # Never split a UTF-8 character: hold back an incomplete trailing sequence.
    keep = _complete_utf8(data)
    data = data[:keep]
    return LogChunk(_decode(data), offset, offset + len(data), size, exists=True)


def _decode(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    # Control characters other than newline and tab do nothing useful in a page.
    return "".join(c if c in "\n\t" or c >= " " else "�" for c in text) if _has_controls(text) else text


def _has_controls(text: str) -> bool:
    return any(c < " " and c not in "\n\t" for c in text)


def _complete_utf8(data: bytes) -> int:
    """Length of ``data`` without a trailing incomplete UTF-8 sequence."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: look further back for the lead
            continue
        need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
        return len(data) - back if need > back else len(data)
    return len(data)


def exit_record(attempt: dict[str, Any]) -> dict[str, Any] | None:
    """The attempt's exit record (host, status, kind, message), if written and small."""
    path = Path(attempt["dir"]) / EXIT_FILE
    try:
        if path.stat().st_size > EXIT_RECORD_MAX:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def artifact_entries(value: Any) -> list[str]:
    """An output artifact as the paths or URIs it names (a path, a list, a dict of them)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [p for v in value for p in artifact_entries(v)]
    if isinstance(value, dict):
        for k in ("uri", "path", "url"):
            if isinstance(value.get(k), str):
                return [value[k]]
        return [p for v in value.values() for p in artifact_entries(v)]
    return [str(value)]


def image_type(entry: str) -> str | None:
    """The media type if ``entry`` is a local PNG/SVG path the page can show inline."""
    if "://" in entry:
        return None
    return IMAGE_TYPES.get(Path(entry).suffix.lower())


def read_image(entry: str) -> tuple[bytes, str] | None:
    """The bytes and media type of an image artifact, or None if it cannot be shown."""
    kind = image_type(entry)
    if kind is None:
        return None
    path = Path(entry)
    try:
        st = path.stat()
        if not path.is_file() or st.st_size > IMAGE_MAX_BYTES:
            return None
        return path.read_bytes(), kind
    except OSError:
        return None
