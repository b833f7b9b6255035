"""RadGraph file flavours: read -> write -> read is the identity; labelers, label sets and the schema."""

from __future__ import annotations

import errno
import json
import os
import tempfile

import pytest
from jsonschema import Draft202012Validator

from llmgraph.core.document import Document, Entity, Relation, document_from_report
from llmgraph.core.errors import InputError
from llmgraph.core.labels import (
    ALL_LABELS,
    RADGRAPH_LABELS,
    RELATION_TYPES,
    XL_LABELS,
    LabelSet,
    convert,
    label_set_of,
    to_radgraph,
    to_radgraph_xl,
)
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.io.reports import ReportOptions, read_reports
from llmgraph.io.validation import check_document, load_schema


def ent(tokens: str, label: str, start: int, end: int, *relations: tuple[str, str]) -> dict:
    return {"tokens": tokens, "label": label, "start_ix": start, "end_ix": end,
            "relations": [list(relation) for relation in relations]}


# Official RadGraph 1.0 train/dev shape.
TRAIN = {
    "p10/p10000032/s50414267.txt": {
        "text": "Small left pleural effusion . No pneumothorax .",
        "entities": {
            "1": ent("Small", "OBS-DP", 0, 0, ("modify", "4")),
            "2": ent("left", "ANAT-DP", 1, 1, ("modify", "3")),
            "3": ent("pleural", "ANAT-DP", 2, 2),
            "4": ent("effusion", "OBS-DP", 3, 3, ("located_at", "3")),
            "5": ent("pneumothorax", "OBS-DA", 6, 6),
        },
        "data_source": "MIMIC-CXR", "data_split": "train",
    },
    "p11/p11000011/s51029426.txt": {
        "text": "Possible right lower lobe pneumonia , likely aspiration .",
        "entities": {
            "1": ent("right lower lobe", "ANAT-DP", 1, 3),
            "2": ent("pneumonia", "OBS-U", 4, 4, ("located_at", "1"), ("suggestive_of", "3")),
            "3": ent("aspiration", "OBS-U", 7, 7),
        },
        "data_source": "MIMIC-CXR", "data_split": "dev",
    },
}

# Official RadGraph 1.0 test shape: two labelers, each block with its own data_source/data_split.
TEST = {
    "c1": {
        "text": "Stable cardiomegaly . No effusion .",
        "labeler_1": {"entities": {"1": ent("cardiomegaly", "OBS-DP", 1, 1),
                                   "2": ent("Stable", "OBS-DP", 0, 0, ("modify", "1")),
                                   "3": ent("effusion", "OBS-DA", 4, 4)},
                      "data_source": "CheXpert", "data_split": "test"},
        "labeler_2": {"entities": {"1": ent("Stable cardiomegaly", "OBS-DP", 0, 1),
                                   "2": ent("effusion", "OBS-DA", 4, 4)},
                      "data_source": "CheXpert", "data_split": "test"},
        "data_source": "CheXpert", "data_split": "test",
    },
    "m2": {
        "text": "Mild basilar atelectasis .",
        "labeler_1": {"entities": {"1": ent("Mild", "OBS-DP", 0, 0, ("modify", "3")),
                                   "2": ent("basilar", "ANAT-DP", 1, 1),
                                   "3": ent("atelectasis", "OBS-DP", 2, 2, ("located_at", "2"))}},
        "labeler_2": {"entities": {}},
        "data_source": "MIMIC-CXR", "data_split": "test",
    },
}

# The radgraph package's output: "0", "1", ... keys, XL labels, null data_source.
PACKAGE = {
    "0": {
        "text": "No evidence of pneumothorax following chest tube removal .",
        "entities": {
            "1": ent("pneumothorax", "Observation::definitely absent", 3, 3),
            "2": ent("chest", "Anatomy::definitely present", 5, 5),
            "3": ent("tube", "Observation::definitely present", 6, 6, ("located_at", "2")),
            "4": ent("removal", "Observation::definitely present", 7, 7, ("modify", "3")),
        },
        "data_source": None, "data_split": "inference",
    },
    "1": {
        "text": "A 2.3 cm nodule , possibly in the left upper lobe ; no right lung mass .",
        "entities": {
            "1": ent("2.3 cm", "Observation::measurement::definitely present", 1, 2, ("modify", "2")),
            "2": ent("nodule", "Observation::definitely present", 3, 3, ("located_at", "3")),
            "3": ent("left upper lobe", "Anatomy::uncertain", 8, 10),
            "4": ent("right lung", "Anatomy::definitely absent", 13, 14),
            "5": ent("mass", "Observation::definitely absent", 15, 15, ("located_at", "4")),
        },
        "data_source": None, "data_split": "inference",
    },
}

JSONL_LINES = [
    {"id": "a1", "text": "No focal consolidation .", "annotator": "labeler_1", "data_source": "MIMIC-CXR",
     "data_split": "test", "entities": {"1": ent("focal", "OBS-DA", 1, 1, ("modify", "2")),
                                        "2": ent("consolidation", "OBS-DA", 2, 2)}},
    {"id": "a1", "text": "No focal consolidation .", "annotator": "labeler_2", "data_source": "MIMIC-CXR",
     "data_split": "test", "entities": {"1": ent("focal consolidation", "OBS-DA", 1, 2)}},
    {"id": "a2", "text": "Heart size normal .", "annotator": "labeler_1",
     "entities": {"1": ent("Heart", "ANAT-DP", 0, 0), "2": ent("size", "ANAT-DP", 1, 1, ("modify", "1")),
                  "3": ent("normal", "OBS-DP", 2, 2, ("located_at", "1"))}},
    {"id": "a2", "text": "Heart size normal .", "annotator": "labeler_2", "entities": {}},
]


def write_json(path, data) -> str:
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def write_jsonl(path, rows) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def round_trip(docs: list[Document], path, labeler: str | None = None) -> list[Document]:
    write_radgraph(docs, path)
    return read_radgraph(path, labeler)


def summary(doc: Document) -> tuple:
    return ([(e.id, e.tokens, e.label, e.start_ix, e.end_ix) for e in doc.entities],
            [(r.type, r.source, r.target) for r in doc.relations])


# --- round trips -------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_train_file_round_trip(tmp_path, suffix):
    docs = read_radgraph(write_json(tmp_path / "train.json", TRAIN))
    assert [doc.id for doc in docs] == list(TRAIN)
    first, second = docs
    assert (first.data_source, first.data_split, second.data_split) == ("MIMIC-CXR", "train", "dev")
    assert first.annotator is None and first.source_text is None and first.token_offsets is None
    assert summary(first)[1] == [("modify", "1", "4"), ("modify", "2", "3"), ("located_at", "4", "3")]
    assert summary(second)[1] == [("located_at", "2", "1"), ("suggestive_of", "2", "3")]
    again = round_trip(docs, tmp_path / f"out{suffix}")
    assert again == docs
    if suffix == ".json":  # the written file has exactly the official shape
        assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8")) == TRAIN


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_test_file_round_trip_with_both_labelers(tmp_path, suffix):
    docs = read_radgraph(write_json(tmp_path / "test.json", TEST), labeler="both")
    assert [(doc.id, doc.annotator) for doc in docs] == [
        ("c1", "labeler_1"), ("c1", "labeler_2"), ("m2", "labeler_1"), ("m2", "labeler_2")]
    assert all(doc.data_split == "test" for doc in docs)
    assert [doc.data_source for doc in docs] == ["CheXpert", "CheXpert", "MIMIC-CXR", "MIMIC-CXR"]
    assert docs[3].entities == [] and docs[3].relations == []
    again = round_trip(docs, tmp_path / f"out{suffix}", "both")
    assert again == docs
    # The written collection is still a test file: each labeler chooses its own entities.
    for number in ("1", "2"):
        assert read_radgraph(tmp_path / f"out{suffix}", number) == read_radgraph(tmp_path / "test.json", number)
    if suffix == ".json":
        written = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
        assert set(written["c1"]) >= {"text", "labeler_1", "labeler_2"} and "entities" not in written["c1"]
        assert written["c1"]["labeler_2"]["entities"] == TEST["c1"]["labeler_2"]["entities"]


def test_labeler_choice_picks_the_right_entities(tmp_path):
    path = write_json(tmp_path / "test.json", TEST)
    one = read_radgraph(path, "1")
    two = read_radgraph(path, "2")
    assert [(doc.id, doc.annotator) for doc in one] == [("c1", "labeler_1"), ("m2", "labeler_1")]
    assert [(doc.id, doc.annotator) for doc in two] == [("c1", "labeler_2"), ("m2", "labeler_2")]
    assert summary(one[0]) == ([("1", "cardiomegaly", "OBS-DP", 1, 1), ("2", "Stable", "OBS-DP", 0, 0),
                                ("3", "effusion", "OBS-DA", 4, 4)], [("modify", "2", "1")])
    assert summary(two[0]) == ([("1", "Stable cardiomegaly", "OBS-DP", 0, 1), ("2", "effusion", "OBS-DA", 4, 4)], [])
    assert [e.tokens for e in one[1].entities] == ["Mild", "basilar", "atelectasis"] and two[1].entities == []
    assert one[0].text == two[0].text == TEST["c1"]["text"]
    # A single labeler written out and read back needs the same choice again.
    assert round_trip(one, tmp_path / "one.json", "1") == one
    assert round_trip(two, tmp_path / "two.jsonl", "2") == two


def test_test_file_without_labeler_asks_to_choose(tmp_path):
    path = write_json(tmp_path / "test.json", TEST)
    with pytest.raises(InputError) as raised:
        read_radgraph(path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert "labeler_1 and labeler_2" in message and "--labeler 1|2" in message
    with pytest.raises(InputError, match="unknown labeler '3'"):
        read_radgraph(path, "3")


def test_labeler_2_missing_in_one_report_names_that_report(tmp_path):
    data = json.loads(json.dumps(TEST))
    del data["m2"]["labeler_2"]
    path = write_json(tmp_path / "test.json", data)
    assert [doc.id for doc in read_radgraph(path, "1")] == ["c1", "m2"]
    with pytest.raises(InputError) as raised:
        read_radgraph(path, "2")
    assert str(raised.value) == f"{path}: report m2: has no labeler_2 annotations"
    assert raised.value.doc_id == "m2"


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_package_output_round_trip_keeps_xl_labels_and_null_source(tmp_path, suffix):
    docs = read_radgraph(write_json(tmp_path / "package.json", PACKAGE))
    assert [doc.id for doc in docs] == ["0", "1"]
    assert all(doc.data_source is None and doc.data_split == "inference" for doc in docs)
    assert {label_set_of(e.label) for doc in docs for e in doc.entities} == {LabelSet.RADGRAPH_XL}
    assert [e.label for e in docs[1].entities] == [
        "Observation::measurement::definitely present", "Observation::definitely present", "Anatomy::uncertain",
        "Anatomy::definitely absent", "Observation::definitely absent"]
    again = round_trip(docs, tmp_path / f"out{suffix}")
    assert again == docs
    if suffix == ".json":
        written = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
        assert written == PACKAGE  # null data_source stays null, labels stay XL


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_jsonl_with_annotator_lines_round_trip(tmp_path, suffix):
    path = write_jsonl(tmp_path / "gold.jsonl", JSONL_LINES)
    docs = read_radgraph(path, "both")
    assert [(doc.id, doc.annotator, len(doc.entities)) for doc in docs] == [
        ("a1", "labeler_1", 2), ("a1", "labeler_2", 1), ("a2", "labeler_1", 3), ("a2", "labeler_2", 0)]
    assert docs[0].data_source == "MIMIC-CXR" and docs[2].data_source is None
    assert "id" not in docs[0].meta and "annotator" not in docs[0].meta
    assert round_trip(docs, tmp_path / f"out{suffix}", "both") == docs
    assert [summary(doc) for doc in read_radgraph(tmp_path / f"out{suffix}", "2")] == [
        summary(docs[1]), summary(docs[3])]
    with pytest.raises(InputError, match="choose one with --labeler"):
        read_radgraph(path)


def test_plain_jsonl_documents_round_trip_and_keep_extra_keys(tmp_path):
    rows = [{"id": "r1", "text": "No effusion .", "entities": {"1": ent("effusion", "OBS-DA", 1, 1)},
             "data_source": "site-A", "data_split": None, "modality": "CXR", "study_date": "2020-01-01",
             "extra": {"nested": [1, 2]}}]
    docs = read_radgraph(write_jsonl(tmp_path / "docs.jsonl", rows))
    doc, = docs
    assert (doc.id, doc.modality, doc.annotator) == ("r1", "CXR", None)
    assert doc.meta == {"study_date": "2020-01-01", "extra": {"nested": [1, 2]}}
    for suffix in (".json", ".jsonl"):
        assert round_trip(docs, tmp_path / f"out{suffix}") == docs


RAW_REPORT = ("FINDINGS: Small left effusion (5%). Stable 2.3-cm nodule.\n"
              "IMPRESSION: \"Mild\" edema; no pneumothorax.\u2028Café-au-lait \\\"spot\\\" é\u00a0ok.")


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_documents_from_raw_reports_round_trip_with_offsets(tmp_path, suffix):
    made = document_from_report("r1", RAW_REPORT, modality="CXR")
    made.entities = [Entity("1", "effusion", "OBS-DP", 4, 4)]
    made.relations = [Relation("modify", "1", "1")]
    check_document(made)
    path = tmp_path / "reports.jsonl"
    path.write_text(json.dumps({"id": "r2", "report": RAW_REPORT}) + "\n"
                    + json.dumps({"id": "r3", "report": "Lungs\u2028clear.\u0085Heart ok."}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    docs = [made, *read_reports(path)]
    assert [doc.id for doc in docs] == ["r1", "r2", "r3"]
    assert all(doc.source_text is not None and doc.token_offsets for doc in docs)
    again = round_trip(docs, tmp_path / f"out{suffix}")
    assert again == docs
    assert again[0].source_text == RAW_REPORT and again[0].token_offsets == made.token_offsets
    assert all(isinstance(index, int) for doc in again for pair in doc.token_offsets for index in pair)
    assert again[2].tokens == ["Lungs", "clear", ".", "Heart", "ok", "."]


def test_report_sections_round_trip_keeps_section_spans(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('id,findings,impression\nx,"Clear lungs.","Normal."\n', encoding="utf-8")
    docs = read_reports(path, ReportOptions(sections=("findings", "impression")))
    assert docs[0].meta["sections"]
    for suffix in (".json", ".jsonl"):
        assert round_trip(docs, tmp_path / f"out{suffix}") == docs


def test_lone_surrogate_escape_survives_a_round_trip(tmp_path):
    # JSON may escape a lone surrogate ("\ud800"); it is not UTF-8 encodable, so the writer escapes it.
    path = tmp_path / "odd.json"
    path.write_text('{"r1": {"text": "mass \\ud83d here", "entities": {}, "source_text": "mass \\ud83d here"}}')
    docs = read_radgraph(path)
    assert docs[0].tokens == ["mass", "\ud83d", "here"]
    for suffix in (".json", ".jsonl"):
        assert round_trip(docs, tmp_path / f"out{suffix}") == docs


def test_integral_floats_are_integers(tmp_path):
    # JSON Schema counts 1.0 as an integer, so indices written that way are read as ints.
    path = tmp_path / "floats.json"
    path.write_text('{"r1": {"text": "small effusion", "token_offsets": [[0.0, 5], [6, 14.0]],'
                    ' "entities": {"1": {"tokens": "effusion", "label": "OBS-DP", "start_ix": 1.0, "end_ix": 1e0,'
                    ' "relations": []}}}}')
    doc, = read_radgraph(path)
    assert doc.entities[0].span == (1, 1) and type(doc.entities[0].start_ix) is int
    assert doc.token_offsets == [(0, 5), (6, 14)] and all(type(i) is int for pair in doc.token_offsets for i in pair)
    path.write_text(path.read_text().replace('"start_ix": 1.0', '"start_ix": 0.5'))
    with pytest.raises(InputError, match="report r1: entities.1.start_ix"):
        read_radgraph(path)


def test_write_refuses_invalid_documents(tmp_path):
    out = tmp_path / "out.json"
    bad = Document("r1", "small effusion", [Entity("1", "effusion", "OBS-DP", 1, 2)])
    with pytest.raises(InputError, match="report r1: entity 1: span"):
        write_radgraph([bad], out)
    mixed = [Document("a", "x", [Entity("1", "x", "OBS-DP", 0, 0)]),
             Document("b", "y", [Entity("1", "y", "Observation::uncertain", 0, 0)])]
    with pytest.raises(InputError, match="mixes RadGraph 1.0 and RadGraph-XL"):
        write_radgraph(mixed, out)
    with pytest.raises(InputError, match="annotator 'alice' cannot be written to a test file"):
        write_radgraph([Document("a", "x", annotator="alice")], out)
    assert not out.exists() and list(tmp_path.iterdir()) == []  # nothing half-written


# --- label mapping -----------------------------------------------------------------------------

XL_TO_10 = {
    "Anatomy::definitely present": "ANAT-DP",
    "Anatomy::uncertain": "ANAT-DP",
    "Anatomy::definitely absent": "ANAT-DP",
    "Anatomy::measurement::definitely present": "ANAT-DP",
    "Anatomy::measurement::uncertain": "ANAT-DP",
    "Anatomy::measurement::definitely absent": "ANAT-DP",
    "Observation::definitely present": "OBS-DP",
    "Observation::uncertain": "OBS-U",
    "Observation::definitely absent": "OBS-DA",
    "Observation::measurement::definitely present": "OBS-DP",
    "Observation::measurement::uncertain": "OBS-U",
    "Observation::measurement::definitely absent": "OBS-DA",
}
TEN_TO_XL = {"ANAT-DP": "Anatomy::definitely present", "OBS-DP": "Observation::definitely present",
             "OBS-U": "Observation::uncertain", "OBS-DA": "Observation::definitely absent"}


def test_label_sets_are_complete():
    assert set(XL_TO_10) == set(XL_LABELS) and len(XL_LABELS) == 12
    assert set(TEN_TO_XL) == set(RADGRAPH_LABELS)
    assert ALL_LABELS == RADGRAPH_LABELS + XL_LABELS and len(set(ALL_LABELS)) == 16


@pytest.mark.parametrize("xl, ten", XL_TO_10.items())
def test_xl_to_radgraph(xl, ten):
    assert to_radgraph(xl) == ten == convert(xl, LabelSet.RADGRAPH)
    assert to_radgraph_xl(xl) == xl == convert(xl, LabelSet.RADGRAPH_XL)
    assert label_set_of(xl) is LabelSet.RADGRAPH_XL


@pytest.mark.parametrize("ten, xl", TEN_TO_XL.items())
def test_radgraph_to_xl_and_back_is_the_identity(ten, xl):
    assert to_radgraph_xl(ten) == xl == convert(ten, LabelSet.RADGRAPH_XL)
    assert to_radgraph(to_radgraph_xl(ten)) == ten
    assert to_radgraph(ten) == ten == convert(ten, LabelSet.RADGRAPH)
    assert label_set_of(ten) is LabelSet.RADGRAPH


@pytest.mark.parametrize("label", ["OBS-X", "obs-dp", "Observation::possible", "Anatomy", "", "ANAT-DP "])
def test_unknown_labels_are_refused(label):
    for function in (to_radgraph, to_radgraph_xl, label_set_of):
        with pytest.raises(ValueError, match="unknown entity label"):
            function(label)


def test_document_with_labels(tmp_path):
    xl_docs = read_radgraph(write_json(tmp_path / "package.json", PACKAGE))
    ten_docs = [doc.with_labels(LabelSet.RADGRAPH) for doc in xl_docs]
    assert [e.label for e in ten_docs[1].entities] == ["OBS-DP", "OBS-DP", "ANAT-DP", "ANAT-DP", "OBS-DA"]
    assert [e.label for e in ten_docs[0].entities] == ["OBS-DA", "ANAT-DP", "OBS-DP", "OBS-DP"]
    # Only labels change; the originals are untouched.
    for before, after in zip(xl_docs, ten_docs):
        assert [(e.id, e.tokens, e.span) for e in before.entities] == [(e.id, e.tokens, e.span) for e in after.entities]
        assert before.relations == after.relations and before.text == after.text and before.meta == after.meta
        assert before.data_split == after.data_split == "inference"
    assert xl_docs[1].entities[0].label == "Observation::measurement::definitely present"
    # 1.0 -> XL -> 1.0 is the identity on a whole collection, and each result is writable.
    ten = read_radgraph(write_json(tmp_path / "train.json", TRAIN))
    xl = [doc.with_labels(LabelSet.RADGRAPH_XL) for doc in ten]
    assert {e.label for doc in xl for e in doc.entities} <= set(XL_LABELS)
    assert [doc.with_labels(LabelSet.RADGRAPH) for doc in xl] == ten
    assert [doc.with_labels(LabelSet.RADGRAPH_XL) for doc in xl] == xl
    assert round_trip(xl, tmp_path / "xl.json") == xl
    assert round_trip(ten_docs, tmp_path / "ten.jsonl") == ten_docs


# --- the schema --------------------------------------------------------------------------------

def test_schema_enums_match_the_code_and_the_schema_is_valid():
    schema = load_schema("radgraph.schema.json")
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$defs"]["entity"]["properties"]["label"]["enum"] == list(ALL_LABELS)
    assert schema["$defs"]["relation"]["prefixItems"][0]["enum"] == list(RELATION_TYPES)


def test_schema_accepts_every_flavour_and_rejects_bad_labels():
    validator = Draft202012Validator(load_schema("radgraph.schema.json"))
    for data in (TRAIN, TEST, PACKAGE):
        assert list(validator.iter_errors(data)) == []
    for row in JSONL_LINES:
        assert list(validator.iter_errors({row["id"]: row})) == []
    bad = json.loads(json.dumps(TRAIN))
    bad["p10/p10000032/s50414267.txt"]["entities"]["1"]["label"] = "OBS-X"
    bad["p11/p11000011/s51029426.txt"]["entities"]["2"]["relations"][0][0] = "causes"
    assert len(list(validator.iter_errors(bad))) == 2


# --- writing: counts, suffixes, file system errors ------------------------------------------------

def test_write_returns_the_number_of_documents(tmp_path):
    docs = read_radgraph(write_json(tmp_path / "test.json", TEST), "both")
    assert write_radgraph(docs, tmp_path / "out.json") == 4  # two reports, two labelers each
    assert write_radgraph(iter(docs[:3]), tmp_path / "out.jsonl") == 3
    assert write_radgraph([], tmp_path / "empty.json") == 0 and read_radgraph(tmp_path / "empty.json") == []


@pytest.mark.parametrize("name", ["out.txt", "out", "out.json.gz", "out.csv"])
def test_write_refuses_an_output_that_is_not_radgraph(tmp_path, name):
    with pytest.raises(InputError) as raised:
        write_radgraph(read_radgraph(write_json(tmp_path / "in.json", TRAIN)), tmp_path / name)
    assert str(raised.value).startswith(f"{tmp_path / name}: unknown output type")
    assert "expected .json or .jsonl" in str(raised.value)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.json"]


def _os_failure(number: int):
    def fail(*args, **kwargs):
        raise OSError(number, os.strerror(number))
    return fail


@pytest.mark.parametrize("number, where", [(errno.ENOSPC, "fsync"), (errno.EACCES, "mkstemp"), (errno.EROFS, "replace"),
                                           (errno.EIO, "write")])
def test_write_errors_are_one_line_and_leave_nothing_behind(tmp_path, monkeypatch, number, where):
    """A full disk, a read-only folder ...: one line naming the output; an older output stays as it was."""
    out = tmp_path / "out.json"
    out.write_text("previous run\n")
    docs = read_radgraph(write_json(tmp_path / "in.json", TRAIN))
    if where == "write":
        def failing_file(*args, **kwargs):
            file = opened(*args, **kwargs)
            file.writelines = _os_failure(number)
            return file
        opened = os.fdopen
        monkeypatch.setattr(os, "fdopen", failing_file)
    else:
        monkeypatch.setattr({"fsync": os, "replace": os, "mkstemp": tempfile}[where], where, _os_failure(number))
    with pytest.raises(InputError) as raised:
        write_radgraph(docs, out)
    assert str(raised.value) == f"{out}: cannot write the file ({os.strerror(number)})"
    assert out.read_text() == "previous run\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.json", "out.json"]


def test_write_into_a_file_or_over_a_folder_is_one_line(tmp_path):
    (tmp_path / "plain").write_text("x")
    (tmp_path / "folder.json").mkdir()
    docs = read_radgraph(write_json(tmp_path / "in.json", TRAIN))
    for out, reason in ((tmp_path / "plain" / "out.json", "Not a directory"),
                        (tmp_path / "folder.json", "Is a directory")):
        with pytest.raises(InputError) as raised:
            write_radgraph(docs, out)
        assert str(raised.value) == f"{out}: cannot write the file ({reason})"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["folder.json", "in.json", "plain"]
    assert list((tmp_path / "folder.json").iterdir()) == []
