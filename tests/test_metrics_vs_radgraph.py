"""F1RadGraph equals the real radgraph package (0.1.18) on thousands of generated report pairs."""

from __future__ import annotations

import random

import numpy as np
import pytest
from radgraph_reference import rewards, rewards_main

from llmgraph.core.document import Document, Entity, Relation
from llmgraph.core.labels import RADGRAPH_LABELS, RELATION_TYPES, XL_LABELS
from llmgraph.evaluation.rewards import REWARD_LEVELS, compute_reward
from llmgraph.evaluation.scoring import evaluate, evaluate_files
from llmgraph.io.radgraph import document_to_raw

WORDS = ["effusion", "Effusion", "pleural", "left", "Left", "small", "lung", "opacity", "pneumonia",
         "edema", "mild", "no", ".", "tube", "carina", "2", "cm", "above"]


def random_document(rng: random.Random, doc_id: str, text: str | None = None, labels=RADGRAPH_LABELS) -> Document:
    """A valid document with random spans (some overlapping or repeated), labels and relations."""
    tokens = text.split() if text else [rng.choice(WORDS) for _ in range(rng.randint(1, 14))]
    entities = []
    for number in range(1, rng.randint(0, 8) + 1):
        start = rng.randrange(len(tokens))
        end = min(len(tokens) - 1, start + rng.choice([0, 0, 0, 1, 2]))
        entities.append(Entity(str(number), " ".join(tokens[start:end + 1]), rng.choice(labels), start, end))
    relations = []
    for entity in entities:
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            target = rng.choice(entities)
            relations.append(Relation(rng.choice(RELATION_TYPES), entity.id, target.id))
    return Document(doc_id, " ".join(tokens), entities, relations)


def perturbed(rng: random.Random, doc: Document, labels=RADGRAPH_LABELS) -> Document:
    """A prediction near ``doc``: some entities kept, relabelled or dropped, some new ones and relations."""
    noise = random_document(rng, doc.id, doc.text, labels)
    kept = [e for e in doc.entities if rng.random() < 0.7]
    kept = [Entity(e.id, e.tokens, rng.choice(labels) if rng.random() < 0.2 else e.label, e.start_ix, e.end_ix)
            for e in kept]
    offset = len(doc.entities) + 1
    extra = [Entity(str(int(e.id) + offset), e.tokens, e.label, e.start_ix, e.end_ix)
             for e in noise.entities if rng.random() < 0.4]
    ids = {e.id for e in kept + extra}
    relations = [r for r in doc.relations if r.source in ids and r.target in ids and rng.random() < 0.8]
    relations += [Relation(r.type, str(int(r.source) + offset), str(int(r.target) + offset))
                  for r in noise.relations if str(int(r.source) + offset) in ids and str(int(r.target) + offset) in ids]
    return Document(doc.id, doc.text, kept + extra, relations)


@pytest.mark.parametrize("labels", [RADGRAPH_LABELS, XL_LABELS[:4]])
def test_rewards_equal_radgraph_on_generated_pairs(labels):
    rng = random.Random(7)
    reference = rewards()
    differing = 0
    for index in range(3000):
        gold = random_document(rng, str(index), labels=labels)
        pred = perturbed(rng, gold, labels) if rng.random() < 0.8 else random_document(rng, str(index), gold.text, labels)
        hyp_raw, ref_raw = document_to_raw(pred), document_to_raw(gold)
        for level in ("simple", "partial", "complete"):
            ours = compute_reward(hyp_raw, ref_raw, level)
            assert ours == reference.compute_reward(hyp_raw, ref_raw, level), (level, hyp_raw, ref_raw)
        differing += compute_reward(hyp_raw, ref_raw, "simple") != compute_reward(hyp_raw, ref_raw, "complete")
        assert reference.compute_reward(hyp_raw, ref_raw, "all") == tuple(
            compute_reward(hyp_raw, ref_raw, level) for level in ("simple", "partial", "complete"))
    assert differing > 500  # the generated pairs exercise the levels differently, not only 0 and 1


def test_evaluate_means_equal_radgraph_mean_rewards():
    rng = random.Random(11)
    gold = [random_document(rng, f"r{i}") for i in range(400)]
    pred = [perturbed(rng, doc) for doc in gold]
    result = evaluate(gold, pred, samples=0)
    reference = rewards()
    for name, level in REWARD_LEVELS.items():
        expected = np.mean([reference.compute_reward(document_to_raw(p), document_to_raw(g), level)
                            for g, p in zip(gold, pred)])
        assert result[name] == pytest.approx(expected, abs=1e-12)
    assert 0 < result["rg_er_bar"] < result["rg_e"] < 1


def test_empty_side_scores_zero_like_radgraph():
    doc = Document("x", "small effusion", [Entity("1", "effusion", "OBS-DP", 1, 1)])
    empty = Document("x", "small effusion")
    for hyp, ref in ((doc, empty), (empty, doc), (empty, empty)):
        for level in ("simple", "partial", "complete"):
            assert compute_reward(document_to_raw(hyp), document_to_raw(ref), level) == 0.0
            assert rewards().compute_reward(document_to_raw(hyp), document_to_raw(ref), level) == 0.0


def test_hand_computed_example_rewards():
    """"no acute cardiopulmonary abnormality", with one misdirected modify relation.

    complete: the modify item differs, (cardiopulmonary, ANAT-DP) and the located_at item match: 2/3.
    """
    ref = {"entities": {"1": {"tokens": "acute", "label": "OBS-DA", "relations": [["modify", "2"]]},
                        "2": {"tokens": "cardiopulmonary", "label": "ANAT-DP", "relations": []},
                        "3": {"tokens": "abnormality", "label": "OBS-DA", "relations": [["located_at", "2"]]}}}
    hyp = {"entities": {"1": {"tokens": "acute", "label": "OBS-DA", "relations": [["modify", "3"]]},
                        "2": {"tokens": "cardiopulmonary", "label": "ANAT-DP", "relations": []},
                        "3": {"tokens": "abnormality", "label": "OBS-DA", "relations": [["located_at", "2"]]}}}
    assert compute_reward(hyp, ref, "simple") == 1.0
    assert compute_reward(hyp, ref, "partial") == 1.0
    assert compute_reward(hyp, ref, "complete") == rewards().compute_reward(hyp, ref, "complete") == pytest.approx(2 / 3)


def test_both_reward_versions_equal_their_upstream_code_where_case_decides():
    """radgraph-0.1.18 equals the PyPI package and radgraph-main the repository's main branch on thousands
    of pairs whose entities repeat a word in other case ("Effusion" ... "effusion"), where they differ."""
    rng = random.Random(23)
    upstream = {"radgraph-0.1.18": rewards(), "radgraph-main": rewards_main()}
    differing = 0
    mixed = ["Effusion", "effusion", "Left", "left", "Opacity", "opacity", "Edema", "edema", "."]
    for index in range(3000):
        text = " ".join(rng.choice(mixed) for _ in range(rng.randint(2, 12)))
        gold = random_document(rng, str(index), text)
        pred = perturbed(rng, gold) if rng.random() < 0.5 else random_document(rng, str(index), gold.text)
        hyp_raw, ref_raw = document_to_raw(pred), document_to_raw(gold)
        ours = {}
        for version, module in upstream.items():
            ours[version] = tuple(compute_reward(hyp_raw, ref_raw, level, version)
                                  for level in ("simple", "partial", "complete"))
            assert ours[version] == module.compute_reward(hyp_raw, ref_raw, "all"), (version, hyp_raw, ref_raw)
        differing += ours["radgraph-0.1.18"] != ours["radgraph-main"]
    assert differing > 200  # the two versions really differ on these pairs


def test_evaluate_scores_the_chosen_reward_version_and_names_it(tmp_path):
    from llmgraph.io.radgraph_writer import write_radgraph

    rng = random.Random(5)
    gold = [random_document(rng, f"r{i}") for i in range(300)]
    pred = [random_document(rng, doc.id, doc.text) for doc in gold]
    write_radgraph(gold, tmp_path / "gold.json")
    write_radgraph(pred, tmp_path / "pred.json")
    for version, module in (("radgraph-0.1.18", rewards()), ("radgraph-main", rewards_main())):
        for result in (evaluate(gold, pred, samples=0, rewards=version),
                       evaluate_files(tmp_path / "gold.json", tmp_path / "pred.json", samples=0, rewards=version)):
            assert result["rewards"] == version
            for name, level in REWARD_LEVELS.items():
                expected = np.mean([module.compute_reward(document_to_raw(p), document_to_raw(g), level)
                                    for g, p in zip(gold, pred)])
                assert result[name] == pytest.approx(expected, abs=1e-12), (version, name)
    assert evaluate(gold, pred, samples=0)["rg_e"] != evaluate(gold, pred, samples=0, rewards="radgraph-main")["rg_e"]
