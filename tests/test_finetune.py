"""Fine-tuned LLMs: training examples are the extractor's own prompt and exemplar rendering, the bad
inputs of train-llm, and a tiny real fine-tune whose folder loads in vLLM and transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmgraph.cli.app import app
from llmgraph.core.document import Document, Entity, Relation
from llmgraph.core.errors import InputError
from llmgraph.core.labels import LabelSet
from llmgraph.core.resources import sample_gold_path
from llmgraph.evaluation.scoring import evaluate
from llmgraph.extraction.config import ExtractionConfig
from llmgraph.extraction.extractor import Extractor
from llmgraph.extraction.ground import ground, parse_output
from llmgraph.extraction.model_card import CARD, read_card
from llmgraph.extraction.prompting import PromptTemplate
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.io.validation import check_document
from llmgraph.training.llm.config import LLMTrainingConfig
from llmgraph.training.llm.examples import IGNORE, answer_text, build_examples, length_buckets, training_example
from llmgraph.training.llm.train import train_llm

ENV = os.environ | {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _doc(doc_id: str, words: str, entities: list[tuple[str, int, str]], relations: list[tuple[str, int, int]]) -> Document:
    tokens = words.split()
    return Document(doc_id, words,
                    [Entity(str(n), tokens[ix], label, ix, ix) for n, (_, ix, label) in enumerate(entities, 1)],
                    [Relation(kind, str(source), str(target)) for kind, source, target in relations])


def tiny_reports() -> list[Document]:
    """Four short chest reports, annotated as the RadGraph guide says."""
    return [
        _doc("t1", "Small left pleural effusion .",
             [("small", 0, "OBS-DP"), ("left", 1, "ANAT-DP"), ("pleural", 2, "ANAT-DP"), ("effusion", 3, "OBS-DP")],
             [("modify", 1, 4), ("modify", 2, 3), ("located_at", 4, 3)]),
        _doc("t2", "No pneumothorax .", [("pneumothorax", 1, "OBS-DA")], []),
        _doc("t3", "Mild cardiomegaly .", [("mild", 0, "OBS-DP"), ("cardiomegaly", 1, "OBS-DP")], [("modify", 1, 2)]),
        _doc("t4", "Heart size is normal .", [("heart", 0, "ANAT-DP"), ("size", 1, "OBS-DP"), ("normal", 3, "OBS-DP")],
             [("located_at", 2, 1), ("modify", 3, 2)]),
    ]


def test_the_training_answer_of_every_sample_gold_document_grounds_back_to_it():
    """What the model learns to write, parsed and grounded as extraction does, is the gold graph again."""
    gold = read_radgraph(sample_gold_path())
    rebuilt = []
    for doc in gold:
        output = parse_output(answer_text(doc, LabelSet.RADGRAPH), None)
        grounded, stats = ground(doc, output)
        assert stats.counts["entities_dropped_ungrounded"] == 0, doc.id
        rebuilt.append(grounded)
    scores = evaluate(gold, rebuilt, samples=0)
    assert scores["entity_f1"] == 1.0
    # A relation target is written as text: the same word twice in a report can send one to the wrong one.
    assert scores["relation_f1"] > 0.97


def test_a_training_example_is_the_extractors_request_and_the_exemplar_answer(tokenizer):
    """The prompt tokens are exactly those of the request the extractor builds for the report (same prompt
    file, no exemplars, the chat template with its generation prompt); loss falls on the answer only,
    which ends on the end-of-turn token."""
    doc = read_radgraph(sample_gold_path())[3]
    prompt = PromptTemplate.load("finetuned")
    example = training_example(tokenizer, prompt, doc, LabelSet.RADGRAPH)
    extractor = Extractor.__new__(Extractor)  # the request only: no backend
    extractor.config = ExtractionConfig(model="x", prompt="finetuned", shots=0)
    extractor.prompt, extractor.examples = prompt, []
    request = extractor.request_for(doc)
    expected = tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=True,
                                             return_dict=False)
    assert list(example.input_ids[:example.prompt_length]) == list(expected)
    labels = example.labels()
    assert set(labels[:example.prompt_length]) == {IGNORE} and IGNORE not in labels[example.prompt_length:]
    answer = tokenizer.decode(example.input_ids[example.prompt_length:])
    assert answer == answer_text(doc, LabelSet.RADGRAPH) + tokenizer.eos_token
    assert example.input_ids[-1] == tokenizer.eos_token_id


def test_long_examples_and_reports_without_entities_are_skipped_and_counted(tokenizer):
    prompt = PromptTemplate.load("finetuned")
    docs = tiny_reports() + [Document("empty", "No acute findings .")]
    examples, counts, skipped = build_examples(tokenizer, prompt, docs, LabelSet.RADGRAPH, max_length=70)
    lengths = {e.id: len(e.input_ids) for e in build_examples(tokenizer, prompt, docs, LabelSet.RADGRAPH, 10_000)[0]}
    too_long = sorted(doc_id for doc_id, n in lengths.items() if n > 70)
    assert too_long and len(too_long) < 4  # the test must see both kinds
    assert sorted(skipped) == sorted(too_long + ["empty"]) and skipped["empty"] == "no entities"
    assert counts["skipped_too_long"] == len(too_long) and counts["skipped_no_entities"] == 1
    assert all(len(e.input_ids) <= 70 for e in examples) and counts["examples"] == len(examples)
    # Length buckets: every example once, each batch sorted by length.
    batches = length_buckets(examples, 2, list(range(len(examples))))
    assert sorted(e.id for b in batches for e in b) == sorted(e.id for e in examples)


def test_training_settings_are_checked_before_any_model_loads():
    for bad, match in (({"method": "qlora"}, "method 'qlora'"), ({"epochs": 0}, "epochs must be"),
                       ({"learning_rate": 0}, "learning_rate must be a number above 0"),
                       ({"warmup": 1.0}, "warmup is a share"), ({"dtype": "fp8"}, "dtype 'fp8'"),
                       ({"dev_reports": -1}, "dev_reports")):
        with pytest.raises(InputError, match=match):
            LLMTrainingConfig(**bad)
    assert LLMTrainingConfig().lr == 3e-4 and LLMTrainingConfig(method="lora").lr == 2e-4
    with pytest.raises(InputError, match="not a setting of llm training"):
        LLMTrainingConfig.from_settings({"epoch": 2})


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_bad_training_inputs_are_one_line_errors(tmp_path):
    train = tmp_path / "train.json"
    write_radgraph([Document("a", "No acute findings .")], train)
    done = _cli("train-llm", "--train", str(train), "-o", str(tmp_path / "m"))
    assert done.exit_code == 2 and "no entities: nothing to learn" in done.output
    write_radgraph(tiny_reports(), train)
    xl_dev = tmp_path / "dev.json"
    write_radgraph([doc.with_labels(LabelSet.RADGRAPH_XL) for doc in tiny_reports()], xl_dev)
    done = _cli("train-llm", "--train", str(train), "--dev", str(xl_dev), "-o", str(tmp_path / "m"))
    assert done.exit_code == 2 and "dev reports use radgraph-xl labels and the training reports radgraph" in done.output
    (tmp_path / "taken").mkdir()
    done = _cli("train-llm", "--train", str(train), "-o", str(tmp_path / "taken"))
    assert done.exit_code == 2 and "output folder exists" in done.output and "--force" in done.output
    done = _cli("train-llm", "--train", str(train), "-o", str(tmp_path / "m"), "--no-merge")
    assert done.exit_code == 2 and "only --method lora" in done.output
    done = _cli("train-llm", "--train", str(train), "-o", str(tmp_path / "m"), "--max-length", "40")
    assert done.exit_code == 2 and len(done.output.strip().splitlines()) == 1
    assert "no training example left of 4 reports (4 longer than max_length 40 tokens); report t1: longer " \
           "than max_length (" in done.output
    assert not (tmp_path / "m").exists() and not list(tmp_path.glob(".m.*"))


def test_lora_on_modules_peft_cannot_target_is_one_line(embedded_model):
    pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    from llmgraph.training.llm.model import wrap_lora

    model = AutoModelForCausalLM.from_pretrained(embedded_model)
    with pytest.raises(InputError, match=r"--method lora: peft cannot target the modules of model m "
                                         r"\(target_modules \['no_such_proj'\]\)"):
        wrap_lora(model, LLMTrainingConfig(method="lora", target_modules=["no_such_proj"]), "m")


def test_an_interrupted_training_leaves_nothing_that_looks_like_a_model(tmp_path, monkeypatch):
    from llmgraph.training.llm import fit as module  # where the epochs look answer_loss up

    real = module.answer_loss
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "answer_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_llm(tiny_reports(), None, tmp_path / "model", LLMTrainingConfig(batch_size=2), progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_sigterm_during_training_leaves_no_unfinished_folder(tmp_path):
    """A scheduler's time limit (SIGTERM) ends train-llm through the same clean-up as Ctrl-C."""
    import signal
    import time

    train = tmp_path / "train.json"
    write_radgraph(
        [Document(f"{doc.id}-{n}", doc.text, doc.entities, doc.relations) for n in range(16) for doc in tiny_reports()],
        train)
    process = subprocess.Popen([sys.executable, "-m", "llmgraph", "train-llm", "--train", str(train), "-o",
                                str(tmp_path / "model"), "--epochs", "50", "--batch-size", "1", "--dev-reports", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob(".model.partial.*")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert list(tmp_path.glob(".model.partial.*")), "the training started"
    time.sleep(1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.json"], "no hidden staging folder is left"


def test_progress_lines_say_step_loss_speed_and_time_left(monkeypatch):
    from llmgraph.training.llm import progress as module

    logged: list[str] = []
    lines = module.ProgressLines(steps=40, epochs=2, log=logged.append)
    for step in range(40):
        lines.step(1 + step // 20, 1.5, 250.0)
    assert len(logged) == 20 and logged[0].startswith("step 2/40 (epoch 1/2): loss 1.500, 250 tokens/s, ")
    assert logged[-1].startswith("step 40/40 (epoch 2/2)") and logged[-1].endswith("00:00:00 left")
    lines.epoch({"epoch": 2, "seconds": 12.0, "train_loss": 1.25, "dev_loss": 1.5}, 240.0)
    assert logged[-1] == "epoch 2/2 done in 12 s: train loss 1.250, dev loss 1.500, 240 tokens/s, 00:00:00 left"


def test_a_fine_tuned_models_prompt_and_labels_are_its_defaults(tmp_path, capsys):
    folder = tmp_path / "ft"
    folder.mkdir()
    prompt = PromptTemplate.load("finetuned")
    (folder / "prompt.j2").write_text(prompt.source)
    (folder / CARD).write_text(json.dumps({"prompt": {"name": "finetuned", "sha256": prompt.sha256,
                                                      "copy": "prompt.j2"}, "label_set": "radgraph-xl"}))
    config = ExtractionConfig(model=str(folder))
    assert (Path(config.prompt), config.shots, config.labels) == (folder / "prompt.j2", 0, LabelSet.RADGRAPH_XL)
    assert capsys.readouterr().err == ""
    for _ in range(2):
        assert ExtractionConfig(model=str(folder), prompt="few-shot", shots=2).prompt == "few-shot"
    warned = capsys.readouterr().err
    assert warned.count("was trained on the prompt finetuned, not on few-shot") == 1  # once
    assert ExtractionConfig().prompt == "few-shot" and ExtractionConfig().shots == 3  # other models as before
    (folder / CARD).write_text("{")
    with pytest.raises(InputError, match="not a readable training record"):
        read_card(folder)


@pytest.mark.vllm
@pytest.mark.slow
def test_a_tiny_real_fine_tune_lowers_the_loss_and_its_folder_extracts_in_vllm_and_transformers(tmp_path):
    """train-llm on four short reports: the loss falls, the folder is complete and self-describing, the
    vLLM engine (train-llm's own dev extraction) and transformers load it and extract grounded graphs."""
    pytest.importorskip("vllm")
    train = tmp_path / "train.json"
    write_radgraph(tiny_reports(), train)
    model = tmp_path / "model"
    (tmp_path / ".model.partial.killed").mkdir()  # left by a training that was killed with -9
    done = subprocess.run([sys.executable, "-m", "llmgraph", "train-llm", "--train", str(train), "--dev", str(train),
                           "-o", str(model), "--epochs", "4", "--lr", "1e-3", "--dev-reports", "4"],
                          capture_output=True, text=True, env=ENV, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    # stderr is not a terminal: progress comes as lines (a run under nohup or a scheduler leaves a log)
    assert "llmgraph: step 4/4 (epoch 4/4): loss " in done.stderr and " tokens/s, 00:00:00 left" in done.stderr
    assert [line.split(" done")[0] for line in done.stderr.splitlines() if " done in " in line] == [
        f"llmgraph: epoch {n}/4" for n in range(1, 5)] and "dev loss" in done.stderr
    assert "removing 1 unfinished folder(s) of earlier trainings" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "train.json"]
    card = json.loads((model / CARD).read_text())
    losses = [epoch["train_loss"] for epoch in card["history"]]
    assert losses[-1] < losses[0] / 2, losses
    assert card["kind"] == "model" and card["label_set"] == "radgraph" and card["prompt"]["name"] == "finetuned"
    assert card["data"]["train"]["examples"] == 4 and len(card["data"]["train_sha256"]) == 64
    assert card["dev_extraction"]["backend"] == "vllm" and card["dev_extraction"]["reports_ok"] == 4
    assert {"config.json", "model.safetensors", "tokenizer.json", "prompt.j2", "_common.j2"} <= {p.name for p in model.iterdir()}
    out = tmp_path / "pred.json"
    done = _cli("extract", str(train), "-o", str(out), "--model", str(model), "--backend", "transformers",
                "--max-tokens", "200", "-q")
    assert done.exit_code == 0, done.output
    manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    assert manifest["prompt"]["shots"] == 0 and manifest["prompt"]["sha256"] == card["prompt"]["sha256"]
    docs = read_radgraph(out)
    assert len(docs) == 4 and sum(len(doc.entities) for doc in docs) > 0
    for doc in docs:
        check_document(doc)
    assert manifest["counts"]["entities_kept"] == manifest["counts"]["entities_generated"]


def test_compare_fine_tunes_a_train_block_once_per_training_key(tmp_path, monkeypatch):
    """Systems that differ only in decoding share one trained model; another training setting or an
    edited training file trains a new one. (Training itself is replaced here: the tiny real fine-tune
    above runs it.)"""
    import llmgraph.training.llm.train as finetune
    from llmgraph.systems.base import SystemContext
    from llmgraph.systems.kinds import system_kind
    from llmgraph.systems.provision import trained_llm_model

    trained = []

    def fake_train(train_docs, dev_docs, out_dir, config, **options):
        trained.append((len(train_docs), config.epochs, config.prompt, config.labels))
        Path(out_dir).mkdir(parents=True)
        (Path(out_dir) / CARD).write_text("{}")

    monkeypatch.setattr(finetune, "train_llm", fake_train)
    train = tmp_path / "train.json"
    write_radgraph(tiny_reports(), train)
    block = {"train": str(train), "epochs": 2}
    first, _ = trained_llm_model(ExtractionConfig(train=block), tmp_path, print)
    again, seconds = trained_llm_model(ExtractionConfig(train=block, grammar="json", backend="transformers"),
                                       tmp_path, print)
    assert first == again and seconds == 0.0 and trained == [(4, 2, "finetuned", LabelSet.RADGRAPH)]
    other, _ = trained_llm_model(ExtractionConfig(train=block | {"epochs": 3}), tmp_path, print)
    write_radgraph(tiny_reports()[:3], train)
    edited, _ = trained_llm_model(ExtractionConfig(train=block), tmp_path, print)
    assert len({first, other, edited}) == 3 and trained[-1][0] == 3
    with pytest.raises(InputError, match="learning_rate must be"):
        trained_llm_model(ExtractionConfig(train=block | {"learning_rate": -1}), tmp_path, print)
    with pytest.raises(InputError, match="fine-tuned by llmgraph compare"):
        system_kind("llm").build(ExtractionConfig(train=block), SystemContext())


def test_the_schema_describes_the_llm_train_block():
    from dataclasses import fields

    from llmgraph.io.validation import load_schema
    from llmgraph.systems.provision import LLM_DATA_KEYS

    block = load_schema("experiment.schema.json")["$defs"]["llm_training"]["properties"]
    system_keys = {"model", "prompt", "labels"}  # the system's own: trained on what it runs with
    assert set(block) == {f.name for f in fields(LLMTrainingConfig)} - system_keys | set(LLM_DATA_KEYS) | {"seed"}


@pytest.mark.vllm
def test_a_kept_lora_adapter_runs_in_vllm_through_a_lora_request_and_in_transformers_through_peft(
        tmp_path, lora_adapter):
    pytest.importorskip("vllm")
    pytest.importorskip("peft")
    names = {p.name for p in lora_adapter.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", CARD, "prompt.j2"} <= names
    assert "model.safetensors" not in names and json.loads((lora_adapter / CARD).read_text())["kind"] == "adapter"
    reports = tmp_path / "reports.json"
    write_radgraph(tiny_reports(), reports)
    for backend in ("vllm", "transformers"):
        out = tmp_path / f"{backend}.json"
        done = subprocess.run([sys.executable, "-m", "llmgraph", "extract", str(reports), "-o", str(out), "--model",
                               str(lora_adapter), "--backend", backend, "--max-tokens", "200", "-q"],
                              capture_output=True, text=True, env=ENV, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
        assert manifest["backend"]["lora_adapter"] == str(lora_adapter.resolve())
        assert manifest["backend"]["model_path"].endswith("SmolLM2-135M-Instruct")  # the base, from llm_model.json
        docs = read_radgraph(out)
        assert len(docs) + len(manifest["errors"]) == 4
        for doc in docs:
            check_document(doc)


@pytest.mark.slow
def test_the_chunked_loss_of_big_vocabularies_equals_the_whole_one(embedded_model, tokenizer):
    """Past the logits budget the loss runs in recomputed chunks: the same loss and gradients."""
    import torch
    from transformers import AutoModelForCausalLM

    from llmgraph.training.llm.loss import answer_loss, batch_tensors

    model = AutoModelForCausalLM.from_pretrained(embedded_model, dtype=torch.float32)
    prompt = PromptTemplate.load("finetuned")
    examples = [training_example(tokenizer, prompt, doc, LabelSet.RADGRAPH) for doc in tiny_reports()[:2]]
    tensors = batch_tensors(examples, tokenizer.eos_token_id, "cpu")
    results = []
    for budget in (None, 2 * 49152 * 10 * 7):  # the whole at once; chunks of 7 positions
        model.zero_grad()
        loss, count = answer_loss(model, tensors, torch.float32, "cpu", budget)
        loss.backward()
        results.append((loss.item(), count, model.lm_head.weight.grad.clone(),
                        model.model.layers[3].mlp.up_proj.weight.grad.clone()))
    (whole, n, head, layer), (chunked, m, chunk_head, chunk_layer) = results
    assert n == m == sum(e.answer_tokens for e in examples)
    assert abs(whole - chunked) < 1e-3 * whole
    # Float sums in another order: equal to float32 precision (gradients here reach 180).
    assert torch.allclose(head, chunk_head, rtol=1e-4, atol=1e-3) and torch.allclose(layer, chunk_layer, rtol=1e-4, atol=1e-3)
