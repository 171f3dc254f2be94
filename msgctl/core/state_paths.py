"""Where msgctl keeps state between runs: redrive journals and replay ledgers under
``$XDG_STATE_HOME/msgctl/`` (``~/.local/state/msgctl``) unless --journal or --ledger says otherwise."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from msgctl.address import Channel


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "msgctl"


def default_journal(dlq: Channel) -> Path:
    return state_dir() / "redrive" / f"{_file_name(f'{dlq.service}-{dlq.name}')}.sqlite"


def default_copy_journal(dlq: Channel, target: str) -> Path:
    """A --copy journal outlives its run (it is how a rerun knows what was copied): one per target."""
    return state_dir() / "redrive" / f"{_file_name(f'{dlq.service}-{dlq.name}-copy-{target}')}.sqlite"


def default_ledger(target_key: str) -> Path:
    """``target_key`` names the target unambiguously (its URL, ARN or broker and destination)."""
    return state_dir() / "replay" / f"{_file_name(target_key)}.sqlite"


def state_file(kind: str, key: str) -> Path:
    """A small per-channel state file, e.g. the receives msgctl's own lag sweeps made."""
    return state_dir() / kind / f"{_file_name(key)}.json"


def _file_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    if len(name) > 120:  # keep it a legal file name, and still one per target
        name = f"{name[:100]}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    return name
