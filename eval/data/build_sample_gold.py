"""Build the gold sets from their hand annotations: ``sample_reports.yaml`` -> ``sample_gold.json`` (28
short reports) and ``long_reports.yaml`` -> ``long_gold.json`` (long CT, MR, ultrasound and radiograph
reports, 250-600 words).

Each YAML report names its entities by text (``effusion``, ``endotracheal tube``), optionally with
``#n`` for the n-th occurrence of that token sequence, and its relations as ``SOURCE TYPE TARGET``
lines over those keys. This script resolves every key to its token span in the RadGraph-XL
tokenization of the report, numbers the entities in token order, validates the documents and
writes them as RadGraph JSON.

Run ``python eval/data/build_sample_gold.py`` after every edit of a YAML file;
``python eval/data/build_sample_gold.py --check FILE.yaml`` validates a file and prints its size.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import yaml

from llmgraph.core.document import Document, Entity, Relation, document_from_report
from llmgraph.core.errors import InputError
from llmgraph.core.labels import RADGRAPH_LABELS, RELATION_TYPES
from llmgraph.core.tokenize import tokenize
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.io.validation import check_collection, check_document

HERE = Path(__file__).resolve().parent
YAML_PATH = HERE / "sample_reports.yaml"
JSON_PATH = HERE / "sample_gold.json"
LONG_YAML_PATH = HERE / "long_reports.yaml"
LONG_JSON_PATH = HERE / "long_gold.json"
# YAML file -> (JSON file, data_split written into every document)
SETS = {YAML_PATH: (JSON_PATH, "sample"), LONG_YAML_PATH: (LONG_JSON_PATH, "long")}
MODALITIES = ("CXR", "CT", "MR", "US")
REQUIRED_FIELDS = ("id", "modality", "data_source", "report", "entities")

_OCCURRENCE = re.compile(r"(?P<text>.+?)#(?P<n>[1-9][0-9]*)")
_RELATION = re.compile(rf"(?P<source>.+?) (?P<type>{'|'.join(RELATION_TYPES)}) (?P<target>.+)")
# Which kinds of entity each relation type may join, as (source kind, target kind).
_RELATION_KINDS = {
    "modify": {("OBS", "OBS"), ("ANAT", "ANAT")},
    "located_at": {("OBS", "ANAT")},
    "suggestive_of": {("OBS", "OBS")},
}
# Makes the error for the report being built from a description of the problem.
Fail = Callable[[str], InputError]


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a mapping with a repeated key (PyYAML keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"repeated key {key!r} (use {key}#2 for a second occurrence)", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_key(key: str) -> tuple[list[str], int]:
    """The token sequence an entity key names and which occurrence of it (1-based).

    The key's text is tokenized like the report, so ``2.3 cm`` and ``2 . 3 cm`` name the same tokens.
    """
    match = _OCCURRENCE.fullmatch(key)
    text, occurrence = (match["text"], int(match["n"])) if match else (key, 1)
    return [token.text for token in tokenize(text)], occurrence


def find_span(tokens: list[str], sequence: list[str], occurrence: int) -> tuple[int, int] | None:
    """The inclusive token span of the ``occurrence``-th match of ``sequence`` in ``tokens``, if any."""
    width = len(sequence)
    if not width:
        return None
    starts = [start for start in range(len(tokens) - width + 1) if tokens[start : start + width] == sequence]
    if occurrence > len(starts):
        return None
    start = starts[occurrence - 1]
    return start, start + width - 1


def _resolve_entities(doc: Document, annotations: dict[Any, Any], fail: Fail) -> dict[str, Entity]:
    """Entities keyed by their YAML key, numbered "1", "2", ... in token order."""
    tokens = doc.tokens
    spans: list[tuple[int, int, str, str]] = []
    for key, label in annotations.items():
        if not isinstance(key, str):
            raise fail(f"entity key {key!r} is not a string (quote it in the YAML)")
        if label not in RADGRAPH_LABELS:
            raise fail(f"entity {key!r}: unknown label {label!r} (expected one of {', '.join(RADGRAPH_LABELS)})")
        sequence, occurrence = parse_key(key)
        span = find_span(tokens, sequence, occurrence)
        if span is None:
            raise fail(f"entity {key!r}: occurrence {occurrence} of {' '.join(sequence)!r} not found in the tokens")
        spans.append((*span, key, label))
    spans.sort()
    for (_, end, key, _), (start, _, next_key, _) in zip(spans, spans[1:]):
        if start <= end:
            raise fail(f"entities {key!r} and {next_key!r} overlap")
    return {
        key: Entity(str(number), " ".join(tokens[start : end + 1]), label, start, end)
        for number, (start, end, key, label) in enumerate(spans, 1)
    }


def _resolve_relations(lines: list[Any], entities: dict[str, Entity], fail: Fail) -> list[Relation]:
    """Relations from ``SOURCE TYPE TARGET`` lines, grouped by source entity as RadGraph JSON stores them."""
    relations: list[Relation] = []
    for line in lines:
        match = _RELATION.fullmatch(line) if isinstance(line, str) else None
        if match is None:
            raise fail(f"relation {line!r} is not 'SOURCE TYPE TARGET' with TYPE one of {', '.join(RELATION_TYPES)}")
        for key in (match["source"], match["target"]):
            if key not in entities:
                raise fail(f"relation {line!r}: {key!r} is not an entity key")
        source, target = entities[match["source"]], entities[match["target"]]
        kinds = (source.label.split("-")[0], target.label.split("-")[0])
        if source is target or kinds not in _RELATION_KINDS[match["type"]]:
            raise fail(f"relation {line!r}: {match['type']} cannot join {source.label} to {target.label}")
        relation = Relation(match["type"], source.id, target.id)
        if relation in relations:
            raise fail(f"relation {line!r} is listed twice")
        relations.append(relation)
    return sorted(relations, key=lambda relation: int(relation.source))


def build_document(raw: Any, yaml_path: Path, data_split: str = "sample") -> Document:
    """One annotated document from one YAML report entry."""
    report_id = raw.get("id") if isinstance(raw, dict) else None

    def fail(problem: str) -> InputError:
        return InputError(problem, yaml_path, report_id)

    if not isinstance(raw, dict):
        raise fail("each report must be a mapping")
    missing = [name for name in REQUIRED_FIELDS if not raw.get(name)]
    if missing:
        raise fail(f"missing {', '.join(missing)}")
    if raw["modality"] not in MODALITIES:
        raise fail(f"unknown modality {raw['modality']!r} (expected one of {', '.join(MODALITIES)})")
    if not isinstance(raw["entities"], dict) or not isinstance(raw.get("relations", []), list):
        raise fail("entities must be a mapping and relations a list")
    doc = document_from_report(
        str(report_id), raw["report"], modality=raw["modality"], data_source=raw["data_source"], data_split=data_split
    )
    entities = _resolve_entities(doc, raw["entities"], fail)
    doc.entities = sorted(entities.values(), key=lambda entity: entity.start_ix)
    doc.relations = _resolve_relations(raw.get("relations", []), entities, fail)
    check_document(doc)
    return doc


def build(yaml_path: str | Path = YAML_PATH, data_split: str | None = None) -> list[Document]:
    """The annotated documents of ``yaml_path``, validated; ``InputError`` names the report and key at fault."""
    yaml_path = Path(yaml_path)
    try:
        raws = yaml.load(yaml_path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as error:
        where = f"line {error.problem_mark.line + 1}: " if error.problem_mark else ""
        raise InputError(f"not valid YAML: {where}{error.problem}", yaml_path) from None
    if not isinstance(raws, list):
        raise InputError("expected a list of reports", yaml_path)
    split = data_split or SETS.get(yaml_path.resolve(), (None, "sample"))[1]
    docs = [build_document(raw, yaml_path, split) for raw in raws]
    check_collection(docs)
    return docs


def _summary(docs: list[Document]) -> str:
    words = [len((doc.source_text or doc.text).split()) for doc in docs]
    return (f"{len(docs)} reports ({min(words, default=0)}-{max(words, default=0)} words), "
            f"{sum(len(doc.entities) for doc in docs)} entities, {sum(len(doc.relations) for doc in docs)} relations")


def main() -> None:
    """Rebuild every gold set (or, with ``--check FILE``, validate one annotation file) and print what it holds."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", type=Path, help="Validate this YAML file and print its size; write nothing.")
    args = parser.parse_args()
    if args.check:
        try:
            print(f"{args.check}: {_summary(build(args.check, 'check'))}")
        except InputError as error:
            raise SystemExit(f"{args.check}: {error}") from None
        return
    for yaml_path, (json_path, split) in SETS.items():
        docs = build(yaml_path, split)
        write_radgraph(docs, json_path)
        print(f"wrote {json_path.name}: {_summary(docs)}")


if __name__ == "__main__":
    main()
