"""Property tests: random structures never crash the readers; valid documents survive round trips."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmgraph.document import Document, Entity, Relation
from llmgraph.errors import InputError
from llmgraph.formats import document_to_raw, read_radgraph, write_radgraph
from llmgraph.labels import ALL_LABELS, RADGRAPH_LABELS, RELATION_TYPES
from llmgraph.reports import read_reports

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 30) | st.text(max_size=8) | st.sampled_from(list(ALL_LABELS)),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["text", "entities", "tokens", "label", "start_ix", "end_ix", "relations", "1", "2",
                         "labeler_1", "labeler_2", "data_source", "id", "x"]), children, max_size=5),
    max_leaves=25,
)


@st.composite
def documents(draw, doc_id=None) -> Document:
    words = draw(st.lists(st.sampled_from(["no", "left", "pleural", "effusion", ".", "2", "cm", "é", "<b>"]),
                          min_size=1, max_size=12))
    entities = []
    for number in range(1, draw(st.integers(0, 5)) + 1):
        start = draw(st.integers(0, len(words) - 1))
        end = draw(st.integers(start, min(len(words) - 1, start + 2)))
        entities.append(Entity(str(number), " ".join(words[start:end + 1]), draw(st.sampled_from(RADGRAPH_LABELS)),
                               start, end))
    relations = []
    if entities:
        for _ in range(draw(st.integers(0, 4))):
            relations.append(Relation(draw(st.sampled_from(RELATION_TYPES)), draw(st.sampled_from(entities)).id,
                                      draw(st.sampled_from(entities)).id))
    relations = sorted(set(relations), key=lambda r: (int(r.source), relations.index(r)))
    return Document(doc_id or draw(st.text("abc/_-0123", min_size=1, max_size=6)), " ".join(words), entities,
                    relations, data_source=draw(st.none() | st.just("MIMIC-CXR")), data_split="train")


@st.composite
def mutated(draw):
    """A valid raw document with one field deleted, replaced by a wrong type, or out of range."""
    raw = document_to_raw(draw(documents("r1")))
    target = raw
    if raw["entities"] and draw(st.booleans()):
        target = raw["entities"][draw(st.sampled_from(sorted(raw["entities"])))]
    key = draw(st.sampled_from(sorted(target)))
    action = draw(st.sampled_from(["delete", "replace", "big"]))
    if action == "delete":
        del target[key]
    elif action == "replace":
        target[key] = draw(json_values)
    else:
        target[key] = 10**6
    return {"r1": raw}


def _read(content: str, suffix: str = ".json"):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_text(content)
        try:
            return read_radgraph(path, "both")
        except InputError as error:
            assert "\n" not in str(error) and str(path) in str(error)
            return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_random_structures_raise_only_input_errors(value):
    _read(json.dumps(value))
    _read(json.dumps(value) + "\n", ".jsonl")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_almost_valid_documents_raise_only_input_errors(data):
    docs = _read(json.dumps(data))
    for doc in docs or ():
        assert doc.id == "r1"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents(), min_size=1, max_size=4, unique_by=lambda d: d.id))
def test_valid_documents_round_trip(docs):
    with tempfile.TemporaryDirectory() as folder:
        for suffix in (".json", ".jsonl"):
            path = Path(folder) / f"docs{suffix}"
            write_radgraph(docs, path)
            assert read_radgraph(path) == docs


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.characters(blacklist_categories=["Cs", "Cc"]) | st.sampled_from(['\\"', "\\n", "\n"]),
                        min_size=1, max_size=30).map("".join).filter(str.strip), min_size=1, max_size=3))
def test_report_tokens_map_back_to_their_characters(reports):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "reports.jsonl"
        path.write_text("".join(json.dumps({"id": str(i), "report": text}) + "\n" for i, text in enumerate(reports)))
        for doc in read_reports(path):
            rewritten = doc.source_text.replace('\\"', "``")  # the one rewrite that changes characters
            assert [rewritten[start:end] for start, end in doc.token_offsets] == doc.tokens
