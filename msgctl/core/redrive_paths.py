"""Where redrive journals live: ``$XDG_STATE_HOME/msgctl/redrive/<dlq>.sqlite`` unless --journal says."""

from __future__ import annotations

import os
import re
from pathlib import Path

from msgctl.address import Channel


def default_journal(dlq: Channel) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{dlq.service}-{dlq.name}")
    return Path(base) / "msgctl" / "redrive" / f"{name}.sqlite"
