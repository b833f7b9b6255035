"""Synthetic reports: valid, exact, deterministic, varied, and annotated by the sample-set conventions."""

from __future__ import annotations

from collections import Counter

import pytest

from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.io.synth import MODALITIES, synth_documents, synth_report

DOCS = list(synth_documents(400, seed=3))


def rendered(doc) -> set[tuple[str, str, str]]:
    names = {e.id: e.tokens for e in doc.entities}
    return {(names[r.source], r.type, names[r.target]) for r in doc.relations}


def test_documents_validate_and_round_trip(tmp_path):
    write_radgraph(DOCS, tmp_path / "synth.jsonl")
    assert read_radgraph(tmp_path / "synth.jsonl") == DOCS


def test_entities_are_exact_spans_of_the_source_text():
    for doc in DOCS:
        tokens = doc.tokens
        covered: set[int] = set()
        for entity in doc.entities:
            assert " ".join(tokens[entity.start_ix:entity.end_ix + 1]) == entity.tokens
            start, end = doc.token_offsets[entity.start_ix][0], doc.token_offsets[entity.end_ix][1]
            assert doc.source_text[start:end].replace(" ", "") == entity.tokens.replace(" ", "")
            span = set(range(entity.start_ix, entity.end_ix + 1))
            assert not span & covered, "entities never overlap"
            covered |= span
        ids = {e.id for e in doc.entities}
        assert all(r.source in ids and r.target in ids and r.source != r.target for r in doc.relations)


def test_same_seed_same_reports_and_longer_runs_extend_shorter_ones():
    assert list(synth_documents(10, seed=3)) == DOCS[:10]
    assert synth_report(7, seed=3) == DOCS[7]
    assert list(synth_documents(10, seed=4)) != DOCS[:10]
    assert [d.id for d in DOCS[:3]] == ["synth-000001", "synth-000002", "synth-000003"]


def test_modalities_labels_relations_and_variety():
    assert Counter(d.modality for d in DOCS).keys() == set(MODALITIES)
    assert {d.data_source for d in DOCS} == {"synthetic"}
    labels = Counter(e.label for d in DOCS for e in d.entities)
    relations = Counter(r.type for d in DOCS for r in d.relations)
    assert all(labels[label] > 200 for label in ("ANAT-DP", "OBS-DP", "OBS-DA", "OBS-U"))
    assert all(relations[kind] > 200 for kind in ("modify", "located_at", "suggestive_of"))
    assert len({d.text for d in DOCS}) / len(DOCS) > 0.95
    only_ct = list(synth_documents(20, seed=1, modalities=["CT"]))
    assert {d.modality for d in only_ct} == {"CT"}


def find(predicate):
    return next((doc, rendered(doc)) for doc in DOCS if predicate(doc))


def test_negation_hedging_and_modifiers_follow_the_conventions():
    for doc in DOCS:
        text = doc.text
        labels = {e.tokens.lower(): e.label for e in doc.entities}
        assert not {"no", "possible", "likely", "without"} & set(labels), "cues are never entities"
        if "No pleural effusion" in text or "no pleural effusion" in text:
            assert labels["pleural"] == "ANAT-DP" and labels["effusion"] == "OBS-DA"
            assert ("effusion", "located_at", "pleural") in rendered(doc)
    doc, relations = find(lambda d: "Possible " in d.text)
    word = doc.text.split("Possible ", 1)[1].split()[0]
    assert {e.tokens: e.label for e in doc.entities}[word] == "OBS-U"
    doc, relations = find(lambda d: ", concerning for " in d.text)
    finding = [r for r in relations if r[1] == "suggestive_of"]
    assert finding and all({e.tokens: e.label for e in doc.entities}[target] == "OBS-U" for _, _, target in finding)
    doc, relations = find(lambda d: " size is normal" in d.text)
    assert ("normal", "modify", "size") in relations and any(r[:2] == ("size", "located_at") for r in relations)
    doc, relations = find(lambda d: " x " in d.text and " cm " in d.text)
    measurement = next(e for e in doc.entities if " x " in e.tokens)
    assert measurement.label == "OBS-DP" and measurement.tokens.endswith("cm")
    assert any(source == measurement.tokens and kind == "modify" for source, kind, _ in relations)


@pytest.mark.parametrize("phrase, expected", [
    ("right lower lobe", {("right", "modify", "lobe"), ("lower", "modify", "lobe")}),
    ("left popliteal vein", {("left", "modify", "vein"), ("popliteal", "modify", "vein")}),
])
def test_anatomy_modifiers_modify_the_head(phrase, expected):
    doc, relations = find(lambda d: phrase in d.text)
    assert expected <= relations
