"""Reading back what W&B wrote offline: the history rows of a run's ``.wandb`` file.

wandb writes an offline run as a record log: a 7-byte header (":W&B", a magic, a version), then
LevelDB-log records in 32 KiB blocks (crc32c, length, type: full, or first/middle/last pieces)
each a protobuf ``Record``. wandb ships the protobuf classes but no reader, so this is one.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BLOCK = 32768
HEADER = 7  # of the file, and of each record


def _records(path: Path) -> Iterator[Any]:
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B record log"
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # a block's tail too short for a record header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        # wandb-core buffers its writes: until its service has shut down the file may end mid-record
        assert pos + HEADER + length <= len(data), (
            f"{path} ends inside a record at byte {pos}: read it after wandb.teardown(), not only wandb.finish()")
        pending += data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind in (1, 4):  # a full record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def history(run_dir: Path) -> list[dict[str, Any]]:
    """Every history row (``wandb.log`` call) of the offline runs under ``run_dir``, in order."""
    rows = []
    for path in sorted(Path(run_dir).rglob("*.wandb")):
        for record in _records(path):
            if record.WhichOneof("record_type") == "history":
                rows.append({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                             for item in record.history.item})
    return rows
