"""The hand-annotated sample gold set: in sync with its YAML source, readable, and covering the schema."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from llmgraph.core.document import Document
from llmgraph.core.errors import InputError
from llmgraph.core.labels import RADGRAPH_LABELS, RELATION_TYPES
from llmgraph.io.radgraph_reader import read_radgraph

DATA = Path(__file__).resolve().parent.parent / "eval" / "data"
YAML_PATH = DATA / "sample_reports.yaml"
JSON_PATH = DATA / "sample_gold.json"

# Report groups by id prefix, with anatomy that every report of the group must annotate at least one of.
REGIONS = {
    ("CT", "ct-chest-"): {"lobe", "lobes", "lung", "pulmonary", "pleural", "hilar", "mediastinal"},
    ("CT", "ct-abdpel-"): {"liver", "hepatic", "kidney", "kidneys", "ureter", "appendix", "colon", "small bowel"},
    ("MR", "mr-brain-"): {"white matter", "intracranial", "ventricles", "frontal", "corona radiata", "fossa"},
    ("US", "us-dvt-"): {"vein", "veins", "popliteal", "femoral"},
}


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_sample_gold", DATA / "build_sample_gold.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


@pytest.fixture(scope="module")
def gold() -> list[Document]:
    return read_radgraph(JSON_PATH)


def test_committed_json_equals_a_fresh_build_of_the_yaml(gold):
    built = builder.build(YAML_PATH)
    assert [doc.id for doc in gold] == [doc.id for doc in built]
    for read, fresh in zip(gold, built):
        assert read == fresh, f"{read.id}: sample_gold.json is stale; run python eval/data/build_sample_gold.py"


def test_reads_back_as_radgraph_1_with_offsets_into_the_report(gold):
    for doc in gold:
        assert doc.data_split == "sample"
        assert doc.entities, doc.id
        assert {entity.label for entity in doc.entities} <= set(RADGRAPH_LABELS)
        assert [entity.id for entity in doc.entities] == [str(n) for n in range(1, len(doc.entities) + 1)]
        assert [entity.start_ix for entity in doc.entities] == sorted(entity.start_ix for entity in doc.entities)
        for token, (start, end) in zip(doc.tokens, doc.token_offsets):
            assert doc.source_text[start:end] == token


def test_size_and_modalities(gold):
    assert len(gold) >= 26
    assert {doc.modality for doc in gold} == {"CXR", "CT", "MR", "US"}
    for (modality, prefix), anatomy in REGIONS.items():
        group = [doc for doc in gold if doc.id.startswith(prefix)]
        assert group, prefix
        for doc in group:
            assert doc.modality == modality
            annotated = {entity.tokens.lower() for entity in doc.entities if entity.label == "ANAT-DP"}
            assert annotated & anatomy, f"{doc.id} annotates none of {sorted(anatomy)}"


def test_every_label_and_relation_type_occurs(gold):
    assert {entity.label for doc in gold for entity in doc.entities} == set(RADGRAPH_LABELS)
    assert {relation.type for doc in gold for relation in doc.relations} == set(RELATION_TYPES)
    assert sum(any(r.type == "suggestive_of" for r in doc.relations) for doc in gold) >= 5


def test_every_report_records_provenance_and_modality(gold):
    for doc in gold:
        assert doc.modality in builder.MODALITIES, doc.id
        assert doc.data_source and doc.data_source.strip(), doc.id
    sources = {doc.id: doc.data_source for doc in gold}
    assert "NegBio" in sources["nih-00000086"] and "NegBio" in sources["nih-00019248"]
    assert all("chexpert-labeler" in sources[f"chexpert-sample-{n}"] for n in range(1, 5))


def _write_yaml(tmp_path: Path, entities: str, relations: str = "[]") -> Path:
    path = tmp_path / "reports.yaml"
    path.write_text(
        "- id: tiny-1\n"
        "  modality: CXR\n"
        "  data_source: test\n"
        "  report: Small left pleural effusion. No effusion on the right.\n"
        f"  entities: {{{entities}}}\n"
        f"  relations: {relations}\n",
        encoding="utf-8",
    )
    return path


def test_builder_resolves_occurrences_and_numbers_entities_in_token_order(tmp_path):
    path = _write_yaml(
        tmp_path,
        "effusion#2: OBS-DA, right: ANAT-DP, effusion: OBS-DP, left: ANAT-DP, pleural: ANAT-DP",
        "[effusion located_at pleural, left modify pleural]",
    )
    (doc,) = builder.build(path)
    assert [(e.id, e.tokens, e.label, e.start_ix) for e in doc.entities] == [
        ("1", "left", "ANAT-DP", 1), ("2", "pleural", "ANAT-DP", 2), ("3", "effusion", "OBS-DP", 3),
        ("4", "effusion", "OBS-DA", 6), ("5", "right", "ANAT-DP", 9)]
    assert {(r.type, r.source, r.target) for r in doc.relations} == {("located_at", "3", "2"), ("modify", "1", "2")}


@pytest.mark.parametrize(
    ("entities", "relations", "message"),
    [
        ("efusion: OBS-DP", "[]", "entity 'efusion': occurrence 1 of 'efusion' not found"),
        ("effusion#3: OBS-DP", "[]", "entity 'effusion#3': occurrence 3 of 'effusion' not found"),
        ("pleural effusion: OBS-DP, effusion: OBS-DP", "[]",
         "entities 'pleural effusion' and 'effusion' overlap"),
        ("effusion: OBS-XX", "[]", "entity 'effusion': unknown label 'OBS-XX'"),
        ("effusion: OBS-DP", "[effusion located_at pleural]",
         "relation 'effusion located_at pleural': 'pleural' is not an entity key"),
        ("effusion: OBS-DP, pleural: ANAT-DP", "[pleural located_at effusion]",
         "relation 'pleural located_at effusion': located_at cannot join ANAT-DP to OBS-DP"),
    ],
)
def test_builder_names_the_report_and_the_bad_key(tmp_path, entities, relations, message):
    with pytest.raises(InputError) as error:
        builder.build(_write_yaml(tmp_path, entities, relations))
    assert f"reports.yaml: report tiny-1: {message}" in str(error.value)


def test_builder_rejects_a_repeated_entity_key(tmp_path):
    with pytest.raises(InputError, match=r"line 5: repeated key 'effusion' \(use effusion#2"):
        builder.build(_write_yaml(tmp_path, "effusion: OBS-DP, effusion: OBS-DA"))


def test_long_gold_is_fresh_and_long():
    """The long set: in sync with long_reports.yaml, 250-600 words per report, one per kind of long report."""
    built = builder.build(builder.LONG_YAML_PATH)
    read = read_radgraph(builder.LONG_JSON_PATH)
    assert read == built, "long_gold.json is stale; run python eval/data/build_sample_gold.py"
    assert len(read) >= 6 and {doc.data_split for doc in read} == {"long"}
    for doc in read:
        assert 250 <= len(doc.source_text.split()) <= 600, doc.id
        assert len(doc.entities) > 100 and doc.relations, doc.id
    assert {doc.modality for doc in read} >= {"CT", "MR", "US", "CXR"}
