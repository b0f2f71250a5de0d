"""metrics.jsonl, a run's per-epoch record: one JSON object per line, appended as training goes.

Each record names the epoch and the task's metrics (train_loss, test_acc, psnr, ...), lr,
seconds and throughput. A line torn by a kill mid-write is skipped when read back; resume
rewrites the file without the epochs it redoes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cnnkit.atomic import atomic_write_text
from cnnkit.errors import RunDirError
from cnnkit.files import MIB, parse_json, read_text
from cnnkit.schema import Fields

__all__ = ["METRICS_FILE", "append_metrics", "check_metrics_record", "keep_metrics_before", "read_metrics"]

METRICS_FILE = "metrics.jsonl"
_METRICS_BYTES = 256 * MIB


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    """Append one epoch's record to metrics.jsonl (a whole line per write, flushed)."""
    with open(run_dir / METRICS_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def keep_metrics_before(run_dir: Path, epoch: int) -> None:
    """Rewrite metrics.jsonl without the records of ``epoch`` and later (resume redoes them)."""
    path = Path(run_dir) / METRICS_FILE
    records = [r for r in read_metrics(run_dir) if r.get("epoch", 0) < epoch] if path.is_file() else []
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The per-epoch records of metrics.jsonl, each checked; a torn last line (killed mid-write) is skipped."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        raise RunDirError(f"{Path(run_dir)} has no {METRICS_FILE}; is it a run directory made by 'cnnkit train'?")
    lines = read_text(path, what="metrics file", max_bytes=_METRICS_BYTES, error=RunDirError).splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if number == len(lines) and not _parses(line):
            break
        source = f"{path} line {number}"
        record = parse_json(line, source=source, error=RunDirError, max_depth=4)
        records.append(check_metrics_record(record, source=source))
    return records


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except (ValueError, RecursionError):
        return False
    return True


def check_metrics_record(record: Any, *, source: str) -> dict[str, Any]:
    """One metrics.jsonl record: an object with an integer epoch and numbers (or null) for the rest."""
    fields = Fields(source, RunDirError, hint="remove the line or restore the file")
    if not isinstance(record, dict):
        raise fields.kind("a record", record, "a JSON object")
    fields.integer("epoch", record.get("epoch"), 1, 10**6)
    for key, value in record.items():
        if not isinstance(key, str) or len(key) > 100:
            raise fields.fail("a key", "a short name", key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise fields.kind(key, value, "a number")
    return record
