"""Prompt files render into chat messages; exemplars are chosen deterministically."""

from __future__ import annotations

import json

import pytest

from llmgraph.core.document import document_from_report
from llmgraph.core.errors import InputError
from llmgraph.core.labels import RADGRAPH_LABELS, LabelSet
from llmgraph.core.resources import sample_gold_path
from llmgraph.extraction.exemplars import select_examples
from llmgraph.extraction.grammar import output_schema
from llmgraph.extraction.ground import ground, parse_output
from llmgraph.extraction.prompting import PromptTemplate, example_output, prompt_dir
from llmgraph.io.radgraph_reader import read_radgraph

GOLD = read_radgraph(sample_gold_path())


@pytest.mark.parametrize("name", ["zero-shot", "few-shot", "guideline"])
@pytest.mark.parametrize("label_set", list(LabelSet))
def test_every_prompt_renders(name, label_set):
    doc = document_from_report("q", "FINDINGS: Small left pleural effusion.", modality="CT")
    messages = PromptTemplate.load(name).render(doc, label_set, GOLD[:2])
    assert messages[0]["role"] == "system" and messages[-1]["role"] == "user"
    assert "Small left pleural effusion." in messages[-1]["content"]
    text = "\n".join(m["content"] for m in messages)
    assert ("Observation::uncertain" in text) == (label_set is LabelSet.RADGRAPH_XL)
    assert ("OBS-U" in text) == (label_set is LabelSet.RADGRAPH)
    if name != "zero-shot":
        assert example_output(GOLD[0].with_labels(label_set)) in text


def test_few_shot_turns_alternate_and_modality_wording():
    doc = document_from_report("q", "No DVT.", modality="US")
    messages = PromptTemplate.load("few-shot").render(doc, LabelSet.RADGRAPH, GOLD[:3])
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert "ultrasound report" in messages[-1]["content"]
    assert "Ultrasound reports" in PromptTemplate.load("guideline").render(doc, LabelSet.RADGRAPH)[-1]["content"]


def test_example_output_round_trips_through_grounding():
    schema = output_schema(RADGRAPH_LABELS)
    for doc in GOLD:
        output = parse_output(example_output(doc), schema)
        grounded, stats = ground(doc, output)
        assert grounded.entities == sorted(doc.entities, key=lambda e: e.span) or \
            [e.span for e in grounded.entities] == sorted(e.span for e in doc.entities)
        assert stats.counts["entities_kept"] == len(doc.entities)
        assert len(grounded.relations) == len(doc.relations), doc.id


def test_gold_written_in_the_output_format_scores_as_gold():
    """Writing gold as the model would and grounding it back loses (almost) nothing: only a
    relation whose target text repeats nearby can resolve to the other occurrence."""
    from llmgraph.evaluation.scoring import evaluate

    predicted = [ground(doc, parse_output(example_output(doc), None))[0] for doc in GOLD]
    scores = evaluate(GOLD, predicted, samples=0)
    assert scores["entity_f1"] == 1.0 and scores["rg_er_bar"] == 1.0
    assert scores["relation_f1"] > 0.98


def test_exemplar_selection_is_deterministic_and_leaves_the_report_out():
    doc = GOLD[0]
    fixed = select_examples(GOLD, doc, 3)
    assert fixed == select_examples(GOLD, doc, 3)
    assert doc.id not in [e.id for e in fixed] and len(fixed) == 3
    assert select_examples(GOLD, doc, 3, seed=1) != fixed
    nearest = select_examples(GOLD, GOLD[-1], 2, "nearest")
    assert nearest[0].modality == GOLD[-1].modality  # the other DVT ultrasound shares most words
    with pytest.raises(InputError, match="unknown exemplar strategy"):
        select_examples(GOLD, doc, 1, "random")


def test_prompt_errors(tmp_path):
    with pytest.raises(InputError, match="no prompt file 'nope'"):
        PromptTemplate.load("nope")
    bad = tmp_path / "bad.j2"
    bad.write_text("<|system|>\nonly a system message\n")
    with pytest.raises(InputError, match="must end with a <|user|> message"):
        PromptTemplate.load(bad).render(GOLD[0], LabelSet.RADGRAPH)
    custom = tmp_path / "mine.j2"
    custom.write_text('{%- import "_common.j2" as common -%}\n<|user|>\n{{ common.format() }}\n{{ report }}\n')
    messages = PromptTemplate.load(custom).render(GOLD[0], LabelSet.RADGRAPH)
    assert messages[0]["role"] == "user" and '"relations"' in messages[0]["content"]
    assert {p.stem for p in prompt_dir().glob("[!_]*.j2")} >= {"zero-shot", "few-shot", "guideline"}
    assert json.loads(example_output(GOLD[0]))["entities"]


def _custom_prompt_folder(folder):
    """A user's prompt folder: its own ``zero-shot.j2`` importing its own ``_common.j2``."""
    folder.mkdir(exist_ok=True)
    (folder / "_common.j2").write_text((prompt_dir() / "_common.j2").read_text())
    (folder / "zero-shot.j2").write_text((prompt_dir() / "zero-shot.j2").read_text())
    return folder / "zero-shot.j2"


def test_a_prompts_hash_covers_every_template_it_includes(tmp_path):
    prompt = _custom_prompt_folder(tmp_path / "mine")
    before = PromptTemplate.load(prompt)
    assert set(before.includes) == {"_common.j2"} and before.sha256 == PromptTemplate.load("zero-shot").sha256
    common = tmp_path / "mine" / "_common.j2"
    common.write_text(common.read_text().replace("radiology report", "radiology document"))
    after = PromptTemplate.load(prompt)
    assert after.sha256 != before.sha256, "an edited _common.j2 is another prompt (resume, compare's cache)"
    plain_doc = document_from_report("q", "No effusion.")  # no modality: _common.j2's default wording
    assert "radiology document" in "".join(m["content"] for m in after.render(plain_doc, LabelSet.RADGRAPH))
    # A prompt that includes nothing keeps the hash of its own text (caches of such prompts stay valid).
    plain = tmp_path / "plain.j2"
    plain.write_text("<|user|>\n{{ report }}\n")
    import hashlib

    assert PromptTemplate.load(plain).sha256 == hashlib.sha256(plain.read_bytes()).hexdigest()


def test_a_copied_prompt_brings_its_includes_and_keeps_its_hash(tmp_path):
    prompt = PromptTemplate.load(_custom_prompt_folder(tmp_path / "mine"))
    (tmp_path / "mine" / "_common.j2").write_text(
        (tmp_path / "mine" / "_common.j2").read_text().replace("radiology report", "radiology document"))
    prompt = PromptTemplate.load(prompt.path)
    model = tmp_path / "model"
    model.mkdir()
    prompt.copy_into(model, "prompt.j2")
    copy = PromptTemplate.load(model / "prompt.j2")
    assert sorted(p.name for p in model.iterdir()) == ["_common.j2", "prompt.j2"]
    assert copy.sha256 == prompt.sha256
    assert copy.render(GOLD[0], LabelSet.RADGRAPH) == prompt.render(GOLD[0], LabelSet.RADGRAPH)


def test_an_include_that_links_out_of_the_prompts_folder_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("PATIENT NAME: not for a remote endpoint")
    folder = tmp_path / "shared-model"
    folder.mkdir()
    (folder / "leak.j2").symlink_to(secret)
    prompt = folder / "prompt.j2"
    prompt.write_text('<|user|>\n{% include "leak.j2" %}\n{{ report }}\n')
    with pytest.raises(InputError, match=r"prompt\.j2: prompt template 'leak\.j2' links out of its folder"):
        PromptTemplate.load(prompt).render(GOLD[0], LabelSet.RADGRAPH)
    with pytest.raises(InputError, match="links out of its folder"):
        PromptTemplate.load(prompt).sha256
    dynamic = folder / "dynamic.j2"
    dynamic.write_text('<|user|>\n{% include ("le" ~ "ak.j2") %}\n{{ report }}\n')
    with pytest.raises(InputError, match="links out of its folder"):
        PromptTemplate.load(dynamic).render(GOLD[0], LabelSet.RADGRAPH)
    parent = folder / "up.j2"
    parent.write_text('<|user|>\n{% include "../secret.txt" %}\n{{ report }}\n')
    with pytest.raises(InputError, match="up.j2: prompt template error"):
        PromptTemplate.load(parent).render(GOLD[0], LabelSet.RADGRAPH)
    (folder / "inside.j2").write_text("inside")
    (folder / "alias.j2").symlink_to(folder / "inside.j2")  # a link within the folder is fine
    fine = folder / "fine.j2"
    fine.write_text('<|user|>\n{% include "alias.j2" %} {{ report }}\n')
    assert PromptTemplate.load(fine).render(GOLD[0], LabelSet.RADGRAPH)[0]["content"].startswith("inside")
