"""The span baseline: tags decode into spans, training learns the training set, the saved folder
predicts valid documents for any report, and bad encoders get one clear line."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from llmgraph.core.document import document_from_report
from llmgraph.core.errors import InputError
from llmgraph.core.resources import sample_gold_path
from llmgraph.evaluation.scoring import evaluate
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.training.span.encoder import encoder_path, load_encoder, token_vectors, windows
from llmgraph.training.span.model import Span, candidate_pairs, distance_buckets, pool_spans
from llmgraph.training.span.predict import SpanPredictor
from llmgraph.training.span.tags import decode_tags, encode_tags

GOLD = read_radgraph(sample_gold_path())


@pytest.mark.parametrize("tags, spans", [
    (["B-ANAT-DP", "I-ANAT-DP", "O", "B-OBS-DP"], [(0, 1, "ANAT-DP"), (3, 3, "OBS-DP")]),
    (["I-OBS-DP", "I-OBS-DP"], [(0, 1, "OBS-DP")]),  # I- without B- starts a span
    (["B-OBS-DP", "I-OBS-U"], [(0, 0, "OBS-DP"), (1, 1, "OBS-U")]),  # a label change starts a new span
    (["B-OBS-DP", "O", "I-OBS-DP"], [(0, 0, "OBS-DP"), (2, 2, "OBS-DP")]),  # no continuation across O
    (["B-OBS-DP", "B-OBS-DP"], [(0, 0, "OBS-DP"), (1, 1, "OBS-DP")]),
    ([], []),
])
def test_bio_decoding(tags, spans):
    assert decode_tags(tags) == spans


def test_gold_tags_decode_back_to_the_gold_spans():
    for doc in GOLD:
        assert decode_tags(encode_tags(doc)) == [(e.start_ix, e.end_ix, e.label)
                                                 for e in sorted(doc.entities, key=lambda e: e.start_ix)]


def test_distance_buckets_pairs_and_pooling():
    distances = torch.tensor([0, 1, 2, 3, 4, 5, 8, 9, 16, 17, 500, -1, -17])
    assert distance_buckets(distances).tolist() == [0, 1, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 12]
    spans = [Span(0, 0, "A"), Span(3, 4, "B"), Span(30, 30, "C")]
    assert candidate_pairs(spans, 5).tolist() == [[0, 1], [1, 0]]
    assert candidate_pairs(spans[:1], 5).shape == (0, 2)
    vectors = torch.arange(31 * 2, dtype=torch.float32).reshape(31, 2)
    assert torch.equal(pool_spans(vectors, spans), torch.stack([vectors[s.start:s.end + 1].mean(0) for s in spans]))


def test_long_reports_are_cut_into_windows_that_keep_every_token():
    tokenizer, encoder = load_encoder(encoder_path(None))
    words = ("pleural effusion " * 400).split()
    cut = windows(tokenizer, [words, [], ["lung"]], max_length=128)
    assert [w.doc for w in cut] == [0] * len(cut[:-1]) + [2] and len(cut) > 6
    assert cut[0].start == 0 and all(a.end == b.start for a, b in zip(cut, cut[1:-1]))
    assert cut[-2].end == len(words)
    vectors = token_vectors(tokenizer, encoder.eval(), [words, []], max_length=128)
    assert vectors[0].shape == (800, encoder.config.hidden_size) and vectors[1].shape[0] == 0
    assert bool((vectors[0].abs().sum(dim=1) > 0).all()), "every token, the tail too, has a vector"


def test_training_learns_the_training_reports(span_model):
    card = json.loads((span_model / "span_model.json").read_text())
    assert [h["epoch"] for h in card["history"]] == list(range(1, 6))
    assert card["labels"] == ["ANAT-DP", "OBS-DA", "OBS-DP", "OBS-U"]
    assert card["best"] == max(card["history"], key=lambda h: h["dev_entity_f1"] + h["dev_relation_f1"])
    assert card["window"] == 17 and card["window_coverage"] > 0.99  # of the training relations
    predicted = SpanPredictor.load(span_model).predict(GOLD)
    scores = evaluate(GOLD, predicted, samples=0)
    assert scores["entity_f1"] > 0.6
    assert scores["relation_f1"] > 0.2


def test_predictions_are_valid_deterministic_and_float32_agrees(span_model, tmp_path):
    predictor = SpanPredictor.load(span_model)
    first = predictor.predict(GOLD)
    assert predictor.predict(GOLD) == first
    assert predictor.predict(GOLD[::-1], batch_size=5)[::-1] == first, "a report's graph does not depend on its batch"
    assert predictor.predict(GOLD[3:4], batch_size=1) == first[3:4]
    write_radgraph(first, tmp_path / "pred.json")
    assert read_radgraph(tmp_path / "pred.json") == first
    for doc in first:
        assert [e.id for e in doc.entities] == [str(n) for n in range(1, len(doc.entities) + 1)]
        assert all(r.source != r.target for r in doc.relations)
    exact = SpanPredictor.load(span_model, dtype="float32").predict(GOLD)
    agree = evaluate(exact, first, samples=0)
    assert agree["entity_f1"] > 0.95, "bfloat16 inference changes almost nothing"


def test_any_report_gets_a_valid_document(span_model, tmp_path):
    predictor = SpanPredictor.load(span_model)
    reports = ["", "   ", "Keine Auffälligkeiten.", "?!.", "No pleural effusion. " * 600]
    docs = [document_from_report(str(n), text) for n, text in enumerate(reports)]
    predicted = predictor.predict(docs)
    assert [d.id for d in predicted] == [d.id for d in docs]
    assert predicted[0].entities == [] and predicted[1].entities == []
    long = predicted[-1]
    assert max(e.end_ix for e in long.entities) > len(long.tokens) - 20, "entities in the tail of a long report"
    write_radgraph(predicted[2:], tmp_path / "pred.jsonl")  # validates every entity against its text
    assert read_radgraph(tmp_path / "pred.jsonl") == predicted[2:]


def test_bad_model_and_encoder_folders(tmp_path):
    with pytest.raises(InputError, match="not a span model folder"):
        SpanPredictor.load(tmp_path)
    with pytest.raises(InputError, match="not an encoder folder"):
        encoder_path(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InputError, match="cannot load the encoder"):
        load_encoder(tmp_path)


def test_training_needs_entities():
    from llmgraph.training.span.train import train_span

    with pytest.raises(InputError, match="no entities"):
        train_span([replace(GOLD[0], entities=[], relations=[])], [], "/tmp/unused", epochs=1)


def test_train_span_command_is_deterministic_and_bad_training_files_fail_cleanly(tmp_path):
    from typer.testing import CliRunner

    from llmgraph.cli.app import app
    from llmgraph.training.span.train import train_span

    write_radgraph(GOLD[:3], tmp_path / "train.json")
    options = ["--dev", str(tmp_path / "train.json"), "-o", str(tmp_path / "model"), "--epochs", "1"]
    done = CliRunner().invoke(app, ["train-span", "--train", str(tmp_path / "train.json"), *options])
    assert done.exit_code == 0, done.output
    assert f"span model in {tmp_path / 'model'}: best epoch 1 of 1, dev entity F1 " in done.stderr
    assert SpanPredictor.load(tmp_path / "model").predict(GOLD[:2])[0].id == GOLD[0].id
    again = train_span(GOLD[:3], GOLD[:3], tmp_path / "again", epochs=1, progress=False)
    assert again["history"] == json.loads((tmp_path / "model" / "span_model.json").read_text())["history"]
    first, second = (torch.load(tmp_path / name / "heads.pt", weights_only=True) for name in ("model", "again"))
    assert all(torch.equal(first[key], second[key]) for key in first), "same data and seed, same weights"
    (tmp_path / "bad.json").write_text('{"r1": {"text": "a b", "entities": {"1": {}}}}')
    bad = CliRunner().invoke(app, ["train-span", "--train", str(tmp_path / "bad.json"), *options])
    assert bad.exit_code == 2
    assert bad.stderr.startswith(f"llmgraph: {tmp_path / 'bad.json'}: report r1: ") and bad.stderr.count("\n") == 1


def test_train_span_publishes_its_folder_atomically(tmp_path, monkeypatch):
    """An interrupted train-span leaves the folder it would replace as it was and no hidden folder; a
    finished one replaces the folder whole and removes what trainings killed earlier left."""
    from llmgraph.training.span import train as module

    model = tmp_path / "model"
    model.mkdir()
    (model / "span_model.json").write_text("{}")  # an earlier model folder
    (tmp_path / ".model.partial.killed").mkdir()  # left by a training that was killed with -9

    def interrupted(*args, **kwargs):
        assert len(list(tmp_path.glob(".model.partial.*"))) == 2, "the new folder is staged beside the old"
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "_train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        module.train_span(GOLD[:2], None, model, epochs=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.partial.killed", "model"]
    assert [p.name for p in model.iterdir()] == ["span_model.json"]
    monkeypatch.undo()
    card = module.train_span(GOLD[:2], None, model, epochs=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert sorted(p.name for p in model.iterdir()) == ["encoder", "heads.pt", "span_model.json"]
    assert json.loads((model / "span_model.json").read_text())["history"] == card["history"]
