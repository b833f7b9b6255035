"""A reviewed graph, rebuilt from an annotation tool's character regions: the one way back from Label
Studio and brat to RadGraph JSON.

An annotation tool shows a report as a person reads it (``display_text``) and gives back regions as
character offsets into that text. Each region becomes the RadGraph tokens it covers: a region that starts
or ends inside a token is snapped outwards to whole tokens and counted. What cannot become a graph is
refused in one line naming the report (a region over other text than the report's, overlapping regions,
a label outside the label set); what can be skipped without changing what the reviewer meant (a relation
whose region was deleted, an attribute brat's files carry and RadGraph has no place for) is counted, and
the counts go into the import's manifest.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field, replace

from llmgraph.core.document import Document, Entity, Relation, display_text
from llmgraph.core.errors import InputError
from llmgraph.core.labels import ALL_LABELS, RELATION_TYPES, label_set_of


def entity_numbers(doc: Document) -> dict[str, str]:
    """The number each entity is exported under (brat's ``T<n>``, Label Studio's ``e<n>``): its id when
    every id is a distinct positive integer (so a reviewed graph keeps its ids), else its place."""
    ids = [entity.id for entity in doc.entities]
    if all(value.isdigit() and value == str(int(value)) and int(value) > 0 for value in ids) and len(set(ids)) == len(ids):
        return {value: value for value in ids}
    return {value: str(index) for index, value in enumerate(ids, 1)}


@dataclass
class Region:
    """One entity as the tool has it: its tool id, character span [start, end), label, and the text the
    tool says it covers (checked against the report)."""

    key: str
    start: int
    end: int
    label: str
    text: str | None = None
    id: str | None = None  # the entity id it had when exported, when the tool kept it


@dataclass
class ReviewedGraph:
    """The graph a reviewer left on one report, built region by region and link by link."""

    base: Document  # the report as exported (its tokens, offsets and metadata), without annotations
    where: str  # where in the export, for errors (which also name the report): "task 12", "s504.ann"
    counts: Counter = field(default_factory=Counter)
    regions: list[Region] = field(default_factory=list)
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (from key, to key, type)

    def fail(self, problem: str) -> InputError:
        return InputError(f"{self.where}: {problem}", doc_id=self.base.id)

    def add_region(self, region: Region) -> None:
        if region.label not in ALL_LABELS:
            raise self.fail(f"label {region.label!r} is not a RadGraph or RadGraph-XL label "
                            "(an export from another project?)")
        if any(other.key == region.key for other in self.regions):
            raise self.fail(f"two regions are called {region.key}")
        self.regions.append(region)

    def add_link(self, source: str, target: str, kind: str) -> None:
        if kind not in RELATION_TYPES:
            raise self.fail(f"relation type {kind!r} is not one of {', '.join(RELATION_TYPES)}")
        self.links.append((source, target, kind))

    def document(self) -> Document:
        """The reviewed document: entities in the order of their regions (kept ids first kept, new
        regions numbered after the largest), relations in the order of their links."""
        text, offsets = display_text(self.base)
        starts, ends = [start for start, _ in offsets], [end for _, end in offsets]
        tokens = self.base.tokens
        spans: dict[str, tuple[int, int]] = {}
        for region in self.regions:
            if region.text is not None and text[region.start:region.end] != region.text:
                raise self.fail(f"region {region.key} covers {text[region.start:region.end]!r} in the report "
                                f"but {region.text!r} in the annotation: another version of the report?")
            first = bisect.bisect_right(ends, region.start)  # the first token ending after the region starts
            last = bisect.bisect_left(starts, region.end) - 1  # the last token starting before it ends
            if first > last:
                raise self.fail(f"region {region.key} ({region.start}-{region.end}) covers no token of the report")
            if (starts[first], ends[last]) != (region.start, region.end):
                self.counts["regions snapped to tokens"] += 1
            spans[region.key] = (first, last)
        self._refuse_overlaps(spans)
        labels = {label_set_of(region.label) for region in self.regions}
        if len(labels) > 1:
            raise self.fail("mixes RadGraph and RadGraph-XL labels")
        ids = self._ids()
        entities = [Entity(ids[r.key], " ".join(tokens[spans[r.key][0]:spans[r.key][1] + 1]), r.label,
                           *spans[r.key]) for r in self.regions]
        relations = []
        for source, target, kind in self.links:
            if source not in ids or target not in ids:
                self.counts["relations to a deleted region skipped"] += 1
                continue
            relations.append(Relation(kind, ids[source], ids[target]))
        by_source = {entity.id: index for index, entity in enumerate(entities)}  # RadGraph keeps relations
        relations.sort(key=lambda relation: by_source[relation.source])  # on their source entity
        return replace(self.base, entities=entities, relations=relations, annotator=None)

    def _refuse_overlaps(self, spans: dict[str, tuple[int, int]]) -> None:
        ordered = sorted(spans.items(), key=lambda item: item[1])
        for (key_a, span_a), (key_b, span_b) in zip(ordered, ordered[1:]):
            if span_b[0] <= span_a[1]:
                raise self.fail(f"regions {key_a} and {key_b} overlap (tokens {span_a[0]}-{span_a[1]} and "
                                f"{span_b[0]}-{span_b[1]}); RadGraph entities do not")

    def _ids(self) -> dict[str, str]:
        """Entity ids by region key: the exported id when the region kept one (and it is unique), else
        numbers after the largest numeric id."""
        kept = Counter(region.id for region in self.regions if region.id)
        ids = {region.key: region.id for region in self.regions if region.id and kept[region.id] == 1}
        taken = [int(value) for value in ids.values() if value.isdigit()]
        number = max(taken, default=0)
        for region in self.regions:
            if region.key not in ids:
                number += 1
                while str(number) in ids.values():
                    number += 1
                ids[region.key] = str(number)
        return ids


@dataclass
class Imported:
    """The reviewed documents of an export (with ``annotator`` labeler_1/_2 when every annotator of a
    Label Studio export is kept), and what was counted on the way."""

    docs: list[Document] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    annotators: dict[str, str] = field(default_factory=dict)  # labeler -> Label Studio annotator
