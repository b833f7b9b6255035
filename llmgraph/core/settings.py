"""Typed configs from the keys users write (experiment files, flags), and warnings said once."""

from __future__ import annotations

import sys
from dataclasses import fields
from typing import Any

from llmgraph.core.errors import InputError

_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    """A warning on stderr, once per process for the same message."""
    if message not in _WARNED:
        _WARNED.add(message)
        print(f"llmgraph: warning: {message}", file=sys.stderr)


def setting_fields(config_class: type) -> list[str]:
    """The experiment-file keys of a system config class: its fields, ``type`` aside."""
    return [item.name for item in fields(config_class) if item.metadata.get("setting", True)]


def config_from_settings(config_class: type, settings: dict[str, Any]) -> Any:
    """``config_class`` built from experiment-file keys (``type`` aside); an unknown key is a one-line error."""
    known = setting_fields(config_class)
    unknown = [key for key in settings if key not in known and key != "type"]
    if unknown:
        raise InputError(f"{', '.join(map(repr, unknown))}: not a setting of {config_class.type} systems "
                         f"(expected {', '.join(known)})")
    try:
        return config_class(**{key: value for key, value in settings.items() if key != "type"})
    except (TypeError, ValueError) as error:
        raise InputError(f"{config_class.type} system: {error}") from None
