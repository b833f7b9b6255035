"""Grounding maps the model's texts to report spans, and counts everything it drops."""

from __future__ import annotations

import pytest

from llmgraph.core.document import document_from_report
from llmgraph.core.errors import InputError
from llmgraph.core.labels import RADGRAPH_LABELS
from llmgraph.extraction.grammar import output_schema
from llmgraph.extraction.ground import ground, parse_output
from llmgraph.io.validation import check_document

REPORT = "Small left effusion. Small right effusion. No pneumothorax. ET tube 2.5 cm above the carina."


def entity(text, label="OBS-DP", relations=()):
    return {"text": text, "label": label, "relations": [list(r) for r in relations]}


def test_exact_case_and_successive_occurrences():
    doc = document_from_report("r", REPORT)
    output = {"entities": [entity("small", relations=[("modify", "effusion")]), entity("left", "ANAT-DP"),
                           entity("effusion"), entity("Small", relations=[("modify", "effusion")]),
                           entity("effusion"), entity("2.5 cm")]}
    grounded, stats = ground(doc, output)
    check_document(grounded)
    assert [(e.tokens, e.start_ix) for e in grounded.entities] == [
        ("Small", 0), ("left", 1), ("effusion", 2), ("Small", 4), ("effusion", 6), ("2 . 5 cm", 13)]
    assert stats.counts["entities_grounded_case"] == 1 and stats.counts["entities_grounded_exact"] == 5
    # each "small" modifies the effusion nearest to it (the following one on a tie)
    assert [(r.source, r.target) for r in grounded.relations] == [("1", "3"), ("4", "5")]


def test_drops_are_counted_never_silent():
    doc = document_from_report("r", REPORT)
    output = {"entities": [entity("effusion"), entity("effusion"), entity("effusion", relations=[("modify", "left")]),
                           entity("heart", "ANAT-DP"), entity("carina", "ANAT-DP", [("modify", "lung")])]}
    grounded, stats = ground(doc, output)
    assert len(grounded.entities) == 3
    assert stats.counts["entities_dropped_duplicate"] == 1  # a third "effusion": only two exist
    assert stats.counts["entities_dropped_ungrounded"] == 1  # "heart" is not in the report
    assert stats.counts["relations_generated"] == 2 and stats.counts["relations_dropped"] == 2
    assert stats.counts["entities_kept"] + 2 == stats.counts["entities_generated"]


def test_fuzzy_grounding_only_when_asked():
    doc = document_from_report("r", "Mild cardiomegaly.")
    output = {"entities": [entity("cardiomegally")]}
    assert ground(doc, output)[0].entities == []
    fuzzy, stats = ground(doc, output, fuzzy=True)
    assert [e.tokens for e in fuzzy.entities] == ["cardiomegaly"]
    assert stats.counts["entities_grounded_fuzzy"] == 1


def test_parse_output_errors_are_clear():
    schema = output_schema(RADGRAPH_LABELS)
    with pytest.raises(InputError, match="not valid JSON"):
        parse_output('{"entities":[', schema)
    with pytest.raises(InputError, match="does not match the output schema"):
        parse_output('{"entities":[{"text":"a","label":"OBS-X","relations":[]}]}', schema)
    assert parse_output('{"entities":[]}', schema) == {"entities": []}
