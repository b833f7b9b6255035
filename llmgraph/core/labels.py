"""Entity and relation label sets of RadGraph 1.0 and RadGraph-XL, and the mapping between them.

RadGraph 1.0 folds certainty into four labels; anatomy is always "definitely present".
RadGraph-XL spells labels as ``Kind::certainty`` or ``Kind::measurement::certainty``.

Mapping XL -> 1.0 (lossy): ``Observation::<c>`` and ``Observation::measurement::<c>`` become
``OBS-DP`` / ``OBS-U`` / ``OBS-DA``; every ``Anatomy::...`` label becomes ``ANAT-DP``.
Mapping 1.0 -> XL (exact): ``ANAT-DP`` -> ``Anatomy::definitely present``,
``OBS-DP|U|DA`` -> ``Observation::definitely present|uncertain|definitely absent``.
"""

from __future__ import annotations

from enum import Enum

RELATION_TYPES = ("modify", "located_at", "suggestive_of")

RADGRAPH_LABELS = ("ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA")

_CERTAINTY_CODES = {"definitely present": "DP", "uncertain": "U", "definitely absent": "DA"}
XL_LABELS = tuple(
    f"{kind}::{measure}{certainty}"
    for kind in ("Anatomy", "Observation")
    for measure in ("", "measurement::")
    for certainty in _CERTAINTY_CODES
)
ALL_LABELS = RADGRAPH_LABELS + XL_LABELS


class LabelSet(str, Enum):
    """Which label vocabulary a collection uses."""

    RADGRAPH = "radgraph"
    RADGRAPH_XL = "radgraph-xl"


def label_set_of(label: str) -> LabelSet:
    """The label set ``label`` belongs to; ``ValueError`` for an unknown label."""
    if label in RADGRAPH_LABELS:
        return LabelSet.RADGRAPH
    if label in XL_LABELS:
        return LabelSet.RADGRAPH_XL
    raise ValueError(f"unknown entity label {label!r}")


def to_radgraph(label: str) -> str:
    """Map any label to its RadGraph 1.0 label."""
    if label in RADGRAPH_LABELS:
        return label
    label_set_of(label)
    kind, *_, certainty = label.split("::")
    return "ANAT-DP" if kind == "Anatomy" else f"OBS-{_CERTAINTY_CODES[certainty]}"


def to_radgraph_xl(label: str) -> str:
    """Map any label to its RadGraph-XL label (1.0 labels map to the non-measurement form)."""
    if label in XL_LABELS:
        return label
    label_set_of(label)
    kind, code = label.split("-")
    certainty = {value: key for key, value in _CERTAINTY_CODES.items()}[code]
    return f"{'Anatomy' if kind == 'ANAT' else 'Observation'}::{certainty}"


def convert(label: str, target: LabelSet) -> str:
    """Map ``label`` into the ``target`` label set."""
    return to_radgraph(label) if target is LabelSet.RADGRAPH else to_radgraph_xl(label)


def kind_and_certainty(label: str) -> tuple[str, str]:
    """A label's kind (anatomy or observation; in RadGraph-XL with or without "measurement") and its
    certainty: ``OBS-U`` -> ("OBS", "U"), ``Observation::measurement::uncertain`` ->
    ("Observation::measurement", "uncertain")."""
    if label in RADGRAPH_LABELS:
        kind, certainty = label.split("-")
        return kind, certainty
    *kind, certainty = label.split("::")
    return "::".join(kind), certainty
