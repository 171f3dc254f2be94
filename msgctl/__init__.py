"""msgctl: inspect and operate message channels on Amazon SQS/SNS and ActiveMQ.

``from msgctl import Client`` for the library; the ``msgctl`` command is a thin layer over it. Nothing here
imports boto3 or stomp.py until a call needs them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Client", "Envelope", "MsgctlError", "__version__"]

logging.getLogger("msgctl").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from msgctl.api.client import Client
    from msgctl.envelope import Envelope
    from msgctl.errors import MsgctlError

_EXPORTS = {"Client": "msgctl.api.client", "Envelope": "msgctl.envelope", "MsgctlError": "msgctl.errors"}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'msgctl' has no attribute {name!r}")
