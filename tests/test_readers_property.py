"""Property tests of the readers.

(a) arbitrary or almost-valid JSON never crashes a reader: the only exception is a one-line ``InputError``;
(b) valid random documents survive write -> read unchanged, as .json and as .jsonl;
(c) every token of a plain report maps back to its characters in the original text;
(d) the streamed .txt reader splits a file exactly as splitting its whole text would.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmgraph.core.document import Document, Entity, Relation
from llmgraph.core.errors import InputError
from llmgraph.core.labels import RADGRAPH_LABELS, RELATION_TYPES, XL_LABELS
from llmgraph.io.inputs import load_documents
from llmgraph.io.radgraph import LABELERS, document_to_raw, to_collection
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.io.reports import ReportOptions, read_reports

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
KNOWN_KEYS = {"id", "text", "entities", *LABELERS, "annotator", "data_source", "data_split", "modality",
              "source_text", "token_offsets"}
FIELD_NAMES = sorted(KNOWN_KEYS | {"tokens", "label", "start_ix", "end_ix", "relations", "1", "2", "x"})

scalars = (st.none() | st.booleans() | st.integers(-5, 40) | st.integers()
           | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.0, 1.0, 2.0, -1.0, 1e300])
           | st.text(max_size=12) | st.sampled_from([*RADGRAPH_LABELS, *XL_LABELS, *RELATION_TYPES, "", " "]))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=4), children, max_size=6),
    max_leaves=30,
)

# --- valid documents ---------------------------------------------------------------------------

word_chars = st.characters(exclude_categories=("Cs",)) | st.sampled_from(["\ud800", "\udfff", '"', "\\", "é", "."])
words = st.text(word_chars, min_size=1, max_size=6).filter(lambda word: word.split() == [word])
free_text = st.lists(st.characters(exclude_categories=("Cs",))
                     | st.sampled_from(["\u2028", "\x85", "\n", "\\n", '\\"']), max_size=20).map("".join)
meta_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | free_text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(free_text, children, max_size=3),
    max_leaves=8,
)


@st.composite
def annotations(draw, tokens: list[str], labels: tuple[str, ...]) -> tuple[list[Entity], list[Relation]]:
    """Entities on valid spans, and relations between them grouped by source in entity order."""
    ids = draw(st.lists(st.text(max_size=4), max_size=6, unique=True))
    entities = []
    for entity_id in ids:
        start = draw(st.integers(0, len(tokens) - 1))
        end = draw(st.integers(start, len(tokens) - 1))
        entities.append(Entity(entity_id, " ".join(tokens[start:end + 1]), draw(st.sampled_from(labels)), start, end))
    relations = [Relation(draw(st.sampled_from(RELATION_TYPES)), entity.id, draw(st.sampled_from(ids)))
                 for entity in entities for _ in range(draw(st.integers(0, 2)))]
    return entities, relations


@st.composite
def collections(draw) -> list[Document]:
    """Documents with unique (id, annotator) keys, one label set; some doubly annotated."""
    labels = draw(st.sampled_from([RADGRAPH_LABELS, XL_LABELS]))
    docs = []
    for doc_id in draw(st.lists(st.text(max_size=8), min_size=1, max_size=4, unique=True)):
        tokens = draw(st.lists(words, min_size=1, max_size=10))
        common = dict(
            id=doc_id, text=" ".join(tokens),
            data_source=draw(st.none() | st.sampled_from(["MIMIC-CXR", "CheXpert"]) | free_text),
            data_split=draw(st.none() | st.sampled_from(["train", "dev", "test", "inference"])),
            modality=draw(st.none() | st.sampled_from(["CXR", "CT"]) | free_text),
            meta=draw(st.dictionaries(free_text.filter(lambda key: key not in KNOWN_KEYS), meta_values, max_size=3)),
        )
        if draw(st.booleans()):
            source = draw(free_text)
            offsets = draw(st.lists(st.tuples(st.integers(0, len(source)), st.integers(0, len(source))).map(sorted)
                                    .map(tuple), min_size=len(tokens), max_size=len(tokens)))
            common |= dict(source_text=source, token_offsets=offsets)
        annotators = draw(st.sampled_from([[None], ["labeler_1"], ["labeler_2"], list(LABELERS)]))
        for annotator in annotators:
            entities, relations = draw(annotations(tokens, labels))
            docs.append(Document(entities=entities, relations=relations, annotator=annotator,
                                 **copy.deepcopy(common)))
    return docs


# --- almost valid documents ------------------------------------------------------------------

@st.composite
def almost_valid(draw) -> dict:
    """A valid collection with one field somewhere mutated, deleted, or given a value of the wrong type."""
    collection = to_collection(draw(collections()))
    # Every object inside the collection, with its keys: the place to break.
    places: list[dict] = []

    def walk(value):
        if isinstance(value, dict):
            places.append(value)
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(collection)
    place = draw(st.sampled_from([place for place in places if place] or places))
    action = draw(st.sampled_from(["delete", "replace", "retype", "add"]))
    key = draw(st.sampled_from(sorted(place))) if place else "x"
    if action == "delete" and place:
        del place[key]
    elif action == "add":
        place[draw(st.sampled_from(FIELD_NAMES))] = draw(json_values)
    elif action == "retype" and place:
        wrong = {str: draw(st.integers() | st.none()), int: draw(st.text(max_size=3) | st.floats(-2, 50)),
                 list: draw(st.dictionaries(st.text(max_size=2), scalars, max_size=2)),
                 dict: draw(st.lists(scalars, max_size=2))}
        place[key] = wrong.get(type(place[key]), draw(scalars))
    else:
        place[key] = draw(json_values)
    return collection


def _read_or_input_error(path: Path, read) -> list[Document] | None:
    """``read(path)``, letting through ``InputError`` (checked to be one line naming the file) and nothing else."""
    try:
        return read(path)
    except InputError as error:
        message = str(error)
        assert "\n" not in message and "\r" not in message, message
        assert message.startswith(f"{path}: "), message
        return None


def _as_jsonl(value) -> str:
    """One JSONL line per document when ``value`` is a collection, else the value itself on one line."""
    if isinstance(value, dict) and all(isinstance(doc, dict) for doc in value.values()):
        return "".join(json.dumps({"id": key, **doc}) + "\n" for key, doc in value.items())
    return json.dumps(value) + "\n"


def _check_never_crashes(value) -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        one_line = json.dumps({"id": "r1", **value}) + "\n" if isinstance(value, dict) else ""
        for name, content in (("in.json", json.dumps(value)), ("in.jsonl", _as_jsonl(value)),
                              ("one.json", json.dumps({"r1": value})), ("one.jsonl", one_line)):
            path = folder / name
            path.write_text(content, encoding="utf-8")
            for labeler in (None, "1", "2", "both"):
                docs = _read_or_input_error(path, lambda p: read_radgraph(p, labeler))
                for doc in docs or ():
                    assert isinstance(doc, Document) and doc.tokens
            _read_or_input_error(path, lambda p: load_documents(p, "both"))
            if path.suffix == ".jsonl":
                _read_or_input_error(path, read_reports)
                _read_or_input_error(path, lambda p: read_reports(p, ReportOptions(sections=("findings",))))


@settings(max_examples=250, **SETTINGS)
@given(json_values)
def test_random_json_raises_only_input_errors(value):
    _check_never_crashes(value)


@settings(max_examples=250, **SETTINGS)
@given(almost_valid())
def test_almost_valid_collections_raise_only_input_errors(collection):
    _check_never_crashes(collection)


# --- round trips -------------------------------------------------------------------------------

@settings(max_examples=120, **SETTINGS)
@given(collections())
def test_valid_documents_round_trip(docs):
    with tempfile.TemporaryDirectory() as folder:
        for suffix in (".json", ".jsonl"):
            path = Path(folder) / f"docs{suffix}"
            write_radgraph(docs, path)
            again = read_radgraph(path, "both")
            assert again == docs
            assert [document_to_raw(doc) for doc in again] == [document_to_raw(doc) for doc in docs]
            assert all(type(index) is int for doc in again for entity in doc.entities for index in entity.span)


# --- tokens map back to the report ------------------------------------------------------------

report_chars = (st.characters(exclude_categories=("Cs", "Cc")) | st.characters(max_codepoint=127)
                | st.sampled_from(["\\n", '\\"', '\\\\"', "\\f", "\\u2122", "\n", "\r\n", "\t", "\u2028", "\x85", '"',
                                   ".", ",", "%", ")", "(", "'", "%).", ".'", " ", "\u00a0", "\u200b", "é"]))
reports = st.lists(report_chars, min_size=1, max_size=40).map("".join)


def _check_offsets(doc: Document) -> None:
    source, tokens = doc.source_text, doc.tokens
    assert source is not None and len(doc.token_offsets) == len(tokens)
    assert doc.text == " ".join(tokens)
    previous_end = 0
    for token, (start, end) in zip(tokens, doc.token_offsets):
        original = source[start:end]
        assert previous_end <= start < end <= len(source)
        if original != token:  # the one rewrite that changes characters
            assert '\\"' in original and original.replace('\\"', "``") == token, (token, original)
        previous_end = end


@settings(max_examples=150, **SETTINGS)
@given(st.lists(reports, min_size=1, max_size=4))
def test_report_tokens_map_back_to_their_characters(texts):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        jsonl = folder / "reports.jsonl"
        jsonl.write_text("".join(json.dumps({"id": f"r{n}", "report": text}, ensure_ascii=n % 2 == 0) + "\n"
                                 for n, text in enumerate(texts)), encoding="utf-8")
        docs = read_reports(jsonl)
        assert [doc.source_text for doc in docs] == texts
        buffer = io.StringIO()
        csv.writer(buffer).writerows([["id", "report"], *([f"r{n}", text] for n, text in enumerate(texts))])
        table = folder / "reports.csv"
        table.write_text(buffer.getvalue(), encoding="utf-8", newline="")
        from_csv = read_reports(table)
        assert [(doc.id, doc.source_text) for doc in from_csv] == [(f"r{n}", text) for n, text in enumerate(texts)]
        lines = folder / "reports.txt"
        lines.write_text("\n".join(texts), encoding="utf-8", newline="")
        for doc in [*docs, *from_csv, *read_reports(lines)]:
            _check_offsets(doc)


@settings(max_examples=100, **SETTINGS)
@given(st.lists(st.tuples(st.sampled_from(["FINDINGS", "IMPRESSION", "INDICATION", "COMPARISON", "Findings"]),
                          reports.map(lambda text: text.replace(":", " "))), min_size=1, max_size=4))
def test_section_tokens_come_from_the_chosen_sections(parts):
    report = "".join(f"{name}: {body}\n" for name, body in parts)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "r.jsonl"
        path.write_text(json.dumps({"id": "x", "report": report}) + "\n", encoding="utf-8")
        doc, = read_reports(path, ReportOptions(sections=("findings", "impression")))
    assert doc.source_text == report
    _check_offsets(doc)
    spans = doc.meta.get("sections", {})
    assert bool(spans) != ("problem" in doc.meta)
    assert all(any(low <= start and end <= high for low, high in spans.values()) for start, end in doc.token_offsets)


# --- the streamed .txt reader -----------------------------------------------------------------

def _split_whole_text(text: str) -> list[str]:
    """Reports of a .txt text read whole: blocks when a blank line separates two non-blank lines, else lines."""
    blank_line = r"\n(?:[ \t\r]*\n)+"
    if re.search(blank_line, text.strip()):
        return [block.strip("\r\n") for block in re.split(blank_line, text.strip()) if block.strip()]
    return [line for line in text.splitlines() if line.strip()]


txt_lines = st.lists(st.sampled_from(["", " ", "\t", "\r", " \r", "\x0c", "\u2028", "no effusion.", "  Mild  ",
                                      "a\rb", "é 肺", "x\x85y", "\u00a0"]), max_size=12)


@settings(max_examples=300, **SETTINGS)
@given(txt_lines, st.booleans())
def test_streamed_txt_reports_equal_the_whole_text_split(lines, final_newline):
    text = "\n".join(lines) + ("\n" if final_newline else "")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "reports.txt"
        path.write_bytes(text.encode("utf-8"))
        assert [doc.source_text for doc in read_reports(path)] == _split_whole_text(text)
