"""Names made safe for the file system: what llmgraph writes a file or folder of a system or report under."""

from __future__ import annotations

import re


def safe_name(name: str, fallback: str) -> str:
    """``name`` with anything but letters, digits and ``._+-`` as one ``-`` (``human (labeler 2 vs 1)`` is
    ``human-labeler-2-vs-1``); ``fallback`` when nothing is left."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", name).strip("-") or fallback
