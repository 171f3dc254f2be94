"""What the outputs for monitoring systems share: Nagios perfdata numbers and labels, Prometheus labels."""

from __future__ import annotations

import re


def number(value: float | int | None, missing: str = "U") -> str:
    """A perfdata or sample value (``U``: Nagios's unknown)."""
    if value is None:
        return missing
    return str(value) if isinstance(value, int) else f"{value:.3f}"


def perf_label(text: str) -> str:
    """Nagios labels may not hold quotes or '='; other characters are kept."""
    return re.sub(r"['=]", "_", text)


def label_value(text: str) -> str:
    """A Prometheus label value, escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
