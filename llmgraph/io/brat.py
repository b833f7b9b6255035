"""brat standoff files for review: one ``.txt`` (the report as a person reads it) and one ``.ann`` per
report, an ``annotation.conf`` for the label set, and the way back.

An entity is a text-bound annotation ``T<id>\\t<type> <start> <end>\\t<text>`` (the entity's id kept in
the T number when it is numeric); a relation ``R<n>\\t<type> Arg1:T<source> Arg2:T<target>``. brat's
type names allow no spaces or colons, so RadGraph-XL labels are written with ``__`` for ``::`` and ``_``
for spaces (``Observation__definitely_present``) and mapped back by the table of known labels.

Reading back: discontinuous spans are refused (a RadGraph entity is one run of tokens); attributes
(``A``), notes (``#``), events (``E``) and equivalences (``*``) are skipped and counted.
"""

from __future__ import annotations

from llmgraph.core.document import Document, display_text
from llmgraph.core.labels import ALL_LABELS, RELATION_TYPES
from llmgraph.io.reviewed import Region, ReviewedGraph, entity_numbers


def brat_type(label: str) -> str:
    """A label as a brat type name."""
    return label.replace("::", "__").replace(" ", "_")


LABEL_OF_TYPE = {brat_type(label): label for label in ALL_LABELS}
SKIPPED = {"A": "attributes", "M": "attributes", "#": "notes", "E": "events", "*": "equivalences"}


def annotation_conf(labels: tuple[str, ...]) -> str:
    """brat's ``annotation.conf`` for a label set: the entity types and the three relation types between
    any two entities."""
    lines = ["[entities]", *map(brat_type, labels), "", "[relations]"]
    lines += [f"{kind}\tArg1:<ENTITY>, Arg2:<ENTITY>" for kind in RELATION_TYPES]
    lines += ["", "[events]", "", "[attributes]", ""]
    return "\n".join(lines)


def to_brat(doc: Document) -> tuple[str, str]:
    """The ``.txt`` and ``.ann`` contents of one document."""
    text, offsets = display_text(doc)
    numbers = entity_numbers(doc)
    lines = []
    for entity in doc.entities:
        start, end = offsets[entity.start_ix][0], offsets[entity.end_ix][1]
        covered = text[start:end].replace("\n", " ")  # brat's text column is one line
        lines.append(f"T{numbers[entity.id]}\t{brat_type(entity.label)} {start} {end}\t{covered}")
    for index, relation in enumerate(doc.relations, 1):
        lines.append(f"R{index}\t{relation.type} Arg1:T{numbers[relation.source]} Arg2:T{numbers[relation.target]}")
    return text, "".join(line + "\n" for line in lines)


def from_brat(base: Document, text: str, ann: str, name: str) -> ReviewedGraph:
    """The reviewed graph of one ``.ann`` (``name`` for errors) on ``base``, the report it was exported
    from; its ``.txt`` (``text``) must be that report's."""
    graph = ReviewedGraph(base, name)
    if text != display_text(base)[0]:
        raise graph.fail("the .txt differs from the exported report: another version of the report?")
    for number, line in enumerate(ann.splitlines(), 1):
        if not line.strip():
            continue
        kind = line[0]
        if kind in SKIPPED:
            graph.counts[f"brat {SKIPPED[kind]} skipped"] += 1
        elif kind == "T":
            graph.add_region(_region(graph, line, number))
        elif kind == "R":
            _link(graph, line, number)
        else:
            raise graph.fail(f"line {number}: unknown annotation {line.split()[0]!r}")
    return graph


def _region(graph: ReviewedGraph, line: str, number: int) -> Region:
    try:
        key, middle, covered = line.split("\t", 2)
        kind, *places = middle.split(" ")
    except ValueError:
        raise graph.fail(f"line {number}: not a brat text-bound annotation: {line!r}") from None
    if ";" in middle:
        raise graph.fail(f"line {number}: {key} has a discontinuous span ({' '.join(places)}); "
                         "a RadGraph entity is one run of tokens")
    if kind not in LABEL_OF_TYPE:
        raise graph.fail(f"line {number}: entity type {kind!r} is not a RadGraph or RadGraph-XL label")
    try:
        start, end = map(int, places)
    except ValueError:
        raise graph.fail(f"line {number}: {key} has no start and end offsets") from None
    # brat writes a span's text on one line; the check compares it with the report's, newlines as spaces.
    text, _ = display_text(graph.base)
    if text[start:end].replace("\n", " ") != covered:
        raise graph.fail(f"line {number}: {key} covers {text[start:end]!r} in the report but {covered!r} in the "
                         ".ann: another version of the report?")
    return Region(key, start, end, LABEL_OF_TYPE[kind], None, key[1:] if key[1:].isdigit() else None)


def _link(graph: ReviewedGraph, line: str, number: int) -> None:
    try:
        _, middle = line.split("\t", 1)
        kind, first, second = middle.split()[:3]
        arguments = dict(part.split(":", 1) for part in (first, second))
        graph.add_link(arguments["Arg1"], arguments["Arg2"], kind)
    except (ValueError, KeyError):
        raise graph.fail(f"line {number}: not a brat relation (R<n> type Arg1:T<a> Arg2:T<b>): {line!r}") from None
