"""Every RadGraph flavour reads, writes and reads back to equal documents; labels map both ways."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from llmgraph.document import Document, document_from_report
from llmgraph.formats import read_radgraph, write_radgraph
from llmgraph.inputs import load_documents
from llmgraph.labels import (ALL_LABELS, RADGRAPH_LABELS, RELATION_TYPES, XL_LABELS, LabelSet, convert,
                             to_radgraph, to_radgraph_xl)
from llmgraph.validation import load_schema


def entity(tokens, label, start, end, relations=()):
    return {"tokens": tokens, "label": label, "start_ix": start, "end_ix": end, "relations": [list(r) for r in relations]}


TRAIN = {
    "p10/s1.txt": {"text": "Small left pleural effusion .", "data_source": "MIMIC-CXR", "data_split": "train",
                   "entities": {"1": entity("Small", "OBS-DP", 0, 0, [("modify", "4")]),
                                "2": entity("left", "ANAT-DP", 1, 1, [("modify", "3")]),
                                "3": entity("pleural", "ANAT-DP", 2, 2),
                                "4": entity("effusion", "OBS-DP", 3, 3, [("located_at", "3")])}},
    "p11/s2.txt": {"text": "No pneumothorax .", "data_source": "MIMIC-CXR", "data_split": "train",
                   "entities": {"1": entity("pneumothorax", "OBS-DA", 1, 1)}},
}
TEST = {
    "c1": {"text": "possible right lower lobe pneumonia", "data_source": "CheXpert", "data_split": "test",
           "labeler_1": {"entities": {"1": entity("pneumonia", "OBS-U", 4, 4, [("located_at", "2")]),
                                      "2": entity("lobe", "ANAT-DP", 3, 3)}},
           "labeler_2": {"entities": {"1": entity("right lower lobe", "ANAT-DP", 1, 3),
                                      "2": entity("pneumonia", "OBS-U", 4, 4, [("located_at", "1")])}}},
}
PACKAGE_OUTPUT = {
    "0": {"text": "No evidence of pneumothorax following chest tube removal .", "data_source": None,
          "data_split": "inference",
          "entities": {"1": entity("pneumothorax", "Observation::definitely absent", 3, 3),
                       "2": entity("chest", "Anatomy::definitely present", 5, 5),
                       "3": entity("tube", "Observation::definitely present", 6, 6, [("located_at", "2")]),
                       "4": entity("2 cm", "Observation::measurement::definitely present", 9, 10)}},
}
PACKAGE_OUTPUT["0"]["text"] = "No evidence of pneumothorax following chest tube removal . 2 cm"


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
@pytest.mark.parametrize("data, labeler", [(TRAIN, None), (TEST, "both"), (PACKAGE_OUTPUT, None)])
def test_round_trip(tmp_path, data, labeler, suffix):
    docs = read_radgraph(_write(tmp_path, "in.json", data), labeler)
    out = tmp_path / f"out{suffix}"
    write_radgraph(docs, out)
    assert read_radgraph(out, labeler) == docs


def test_train_file_reads_as_the_official_shape(tmp_path):
    docs = read_radgraph(_write(tmp_path, "train.json", TRAIN))
    first = docs[0]
    assert first.id == "p10/s1.txt" and first.data_source == "MIMIC-CXR" and first.data_split == "train"
    assert [(e.id, e.tokens, e.label, e.start_ix, e.end_ix) for e in first.entities][0] == ("1", "Small", "OBS-DP", 0, 0)
    assert [(r.type, r.source, r.target) for r in first.relations] == [
        ("modify", "1", "4"), ("modify", "2", "3"), ("located_at", "4", "3")]
    out = tmp_path / "again.json"
    write_radgraph(docs, out)
    assert json.loads(out.read_text()) == TRAIN  # byte-level shape of the official files


def test_labeler_choice(tmp_path):
    path = _write(tmp_path, "test.json", TEST)
    first, = read_radgraph(path, "1")
    second, = read_radgraph(path, "2")
    assert [e.tokens for e in first.entities] == ["pneumonia", "lobe"]
    assert [e.tokens for e in second.entities] == ["right lower lobe", "pneumonia"]
    assert first.annotator == "labeler_1" and first.data_source == "CheXpert"
    assert len(read_radgraph(path, "both")) == 2
    written = tmp_path / "test_out.json"
    write_radgraph(read_radgraph(path, "both"), written)
    assert json.loads(written.read_text())["c1"].keys() >= {"labeler_1", "labeler_2", "text"}


def test_raw_report_documents_round_trip(tmp_path):
    doc = document_from_report("r1", "FINDINGS: Small effusion (5%).\nIMPRESSION: Effusion.", modality="CXR")
    doc.meta["site"] = "A"
    for suffix in (".json", ".jsonl"):
        out = tmp_path / f"raw{suffix}"
        write_radgraph([doc], out)
        again, = load_documents(out)
        assert again == doc and again.token_offsets == doc.token_offsets and again.meta == {"site": "A"}


def test_label_mapping():
    assert to_radgraph("Observation::measurement::uncertain") == "OBS-U"
    assert to_radgraph("Anatomy::definitely absent") == "ANAT-DP"
    assert to_radgraph("Observation::definitely absent") == "OBS-DA"
    assert to_radgraph_xl("ANAT-DP") == "Anatomy::definitely present"
    assert to_radgraph_xl("OBS-U") == "Observation::uncertain"
    for label in RADGRAPH_LABELS:
        assert to_radgraph(to_radgraph_xl(label)) == label
        assert convert(label, LabelSet.RADGRAPH) == label
    for label in XL_LABELS:
        assert convert(label, LabelSet.RADGRAPH_XL) == label and to_radgraph(label) in RADGRAPH_LABELS
    with pytest.raises(ValueError, match="unknown entity label"):
        to_radgraph("OBS-X")
    doc = Document("x", "a b", [])
    assert doc.with_labels(LabelSet.RADGRAPH_XL) == doc


def test_schema_matches_the_code():
    schema = load_schema("radgraph.schema.json")
    Draft202012Validator.check_schema(schema)
    assert schema["$defs"]["entity"]["properties"]["label"]["enum"] == list(ALL_LABELS)
    assert schema["$defs"]["relation"]["prefixItems"][0]["enum"] == list(RELATION_TYPES)
    validator = Draft202012Validator(schema)
    for data in (TRAIN, TEST, PACKAGE_OUTPUT):
        validator.validate(data)
