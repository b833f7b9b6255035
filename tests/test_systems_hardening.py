"""Hardening of the systems behind `extract` and `compare`: a model retrained in place is never
served from a cache, every system refuses over-long and invalid-Unicode reports per report (in
bounded memory: the memory tests run in subprocesses with a capped address space), span training
refuses settings and dev sets it cannot use, and an exemplar pool too small for `shots` is refused
before any model loads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from llmgraph.core.document import Document, document_from_report
from llmgraph.core.errors import InputError
from llmgraph.core.resources import sample_gold_path
from llmgraph.extraction.backends.base import Generation, GenerationRequest
from llmgraph.extraction.config import ExtractionConfig
from llmgraph.extraction.extractor import Extractor
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph

GOLD = read_radgraph(sample_gold_path())
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
SURROGATE_REPORT = "Effusion \ud800 noted."
SURROGATE_PROBLEM = "text is not valid Unicode (lone surrogate U+D800 at character 9)"

# Run first in every memory-limited child: caps its address space at its peak so far plus a margin.
LIMIT = """
import resource

def limit_memory(extra_mb):
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmPeak:")) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (peak + extra_mb * 2**20, resource.getrlimit(resource.RLIMIT_AS)[1]))
"""


def run_limited(script: str, *args: str) -> subprocess.CompletedProcess:
    """``script`` in a fresh interpreter that has ``limit_memory`` (it calls it after its warm-up)."""
    return subprocess.run([sys.executable, "-c", LIMIT + script, *args], capture_output=True, text=True, env=ENV,
                          timeout=600)


class RecordingBackend:
    """A backend without a model: answers every prompt with an empty graph, after encoding it as UTF-8
    the way every engine and server does; it keeps the prompts it was given."""

    name, model = "recording", "none"

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        for request in requests:
            prompt = "\n".join(message["content"] for message in request.messages)
            prompt.encode("utf-8")
            self.prompts.append(prompt)
        return [Generation('{"entities": []}', prompt_tokens=1, completion_tokens=1) for _ in requests]

    def describe(self) -> dict[str, str]:
        return {"backend": self.name}

    def close(self) -> None:
        pass


def write_experiment(folder: Path, systems: str, gold: list[Document] = GOLD[:3]) -> Path:
    """An experiment file over ``gold`` (written beside it) with the given ``systems:`` entries."""
    write_radgraph(gold, folder / "gold.json")
    path = folder / "experiment.yaml"
    path.write_text(f"name: hardening\ngold:\n  - {{name: g, path: gold.json}}\nbootstrap: {{samples: 20, seed: 0}}\n"
                    f"systems:\n{systems}")
    return path


def compare_in_process(experiment: Path, out: Path, rerun: bool = False) -> tuple[list[str], object]:
    """``llmgraph compare`` without the CLI: its log lines and its only outcome."""
    from llmgraph.harness.compare import Harness
    from llmgraph.harness.experiment import load_experiment

    lines: list[str] = []
    comparison = Harness(load_experiment(experiment), out, rerun=rerun, log=lines.append).run()
    (outcome,) = comparison.outcomes
    assert outcome.error is None, outcome.error
    return lines, outcome


# --- 1. a model retrained into the same folder is a new model -----------------------------------------------

def test_compare_reruns_a_span_model_retrained_into_the_same_folder(tmp_path):
    from llmgraph.training.span.train import train_span

    model = tmp_path / "model"
    train_span(GOLD[:3], None, model, epochs=1, progress=False)
    experiment = write_experiment(tmp_path, f"  - {{name: span, type: span, model: {model}}}\n")
    compare_in_process(experiment, tmp_path / "out")
    train_span(GOLD[:8], None, model, epochs=2, seed=1, progress=False)  # other settings, same folder

    lines, retrained = compare_in_process(experiment, tmp_path / "out")
    assert "span on g: running on 3 reports" in lines and not retrained.cached, lines
    _, rerun = compare_in_process(experiment, tmp_path / "out", rerun=True)
    for metric in ("entity_f1", "relation_f1", "rg_e", "rg_er"):
        assert retrained.scores[metric] == rerun.scores[metric]
    lines, again = compare_in_process(experiment, tmp_path / "out")
    assert again.cached and "span on g: cached" in lines, "an unchanged model is still served from the cache"


def _fake_span_folder(folder: Path) -> Path:
    (folder / "encoder").mkdir(parents=True)
    (folder / "span_model.json").write_text('{"window": 8}')
    (folder / "heads.pt").write_bytes(b"heads-1" * 100)
    (folder / "encoder" / "model.safetensors").write_bytes(b"weights-1" * 100)
    return folder


def test_span_settings_change_with_the_weights_even_at_the_same_size_and_time(tmp_path):
    from llmgraph.systems.span import span_system

    folder = _fake_span_folder(tmp_path / "model")
    before = span_system(folder).settings()
    weights = folder / "encoder" / "model.safetensors"
    stat = weights.stat()
    weights.write_bytes(b"weights-2" * 100)  # same size; span_model.json untouched
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = span_system(folder).settings()
    assert after["span_model_sha256"] != before["span_model_sha256"]
    from llmgraph.systems.span import span_model_fingerprint

    assert after["span_model_sha256"] == span_model_fingerprint(folder)
    shutil.copytree(folder, tmp_path / "copy")
    assert span_model_fingerprint(tmp_path / "copy") == span_model_fingerprint(folder), "contents, not places"
    assert span_model_fingerprint(tmp_path / "empty") is None


def test_a_local_llm_replaced_in_place_changes_its_settings_and_compare_key(tmp_path):
    from llmgraph.harness.cache import cache_key
    from llmgraph.harness.experiment import SystemSpec
    from llmgraph.systems.llm import LLMSystem

    model = tmp_path / "my-llm"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"first fine-tune")
    config = ExtractionConfig(backend="transformers", model=str(model), prompt="zero-shot", shots=0)
    spec = SystemSpec("llm", "llm", {"backend": "transformers", "model": str(model), "prompt": "zero-shot", "shots": 0})
    before = LLMSystem(config, []).settings()
    (model / "model.safetensors").write_bytes(b"second fine-tune, retrained")
    after = LLMSystem(config, []).settings()
    assert after != before and after["model_files"] != before["model_files"]
    assert cache_key(spec, GOLD[:2], [], after) != cache_key(spec, GOLD[:2], [], before)
    embedded = LLMSystem(ExtractionConfig(backend="transformers", prompt="zero-shot", shots=0), []).settings()
    assert "model_files" not in embedded, "the embedded default is pinned by its wheel"


# --- 2. every system refuses over-long reports per report, in bounded memory ----------------------------------

@pytest.mark.slow
def test_the_span_system_refuses_over_long_reports_per_report_in_bounded_memory(span_model):
    done = run_limited("""
import json, sys
from llmgraph.core.document import document_from_report
from llmgraph.systems.span import span_system

system = span_system(sys.argv[1])
list(system.stream([document_from_report("warm-up", "Small left pleural effusion. " * 400)]))
limit_memory(600)
docs = [document_from_report("words", "Small left pleural effusion. " * 4000),
        document_from_report("field", "effusion " * 111112),
        document_from_report("ok", "Small left pleural effusion. No pneumothorax.")]
batches = list(system.stream(docs))
print(json.dumps({"errors": {k: v for _, e in batches for k, v in e.items()},
                  "predicted": [d.id for b, _ in batches for d in b], "entities": [len(d.entities) for b, _ in batches for d in b]}))
""", str(span_model))
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["errors"] == {"words": "report too long (20000 tokens > 2000)",
                                "field": "report too long (111112 tokens > 2000)"}
    assert result["predicted"] == ["ok"] and result["entities"][0] > 0


@pytest.mark.slow
def test_one_enormous_token_costs_no_more_than_a_window(span_model):
    done = run_limited("""
import json, sys
from llmgraph.core.document import document_from_report
from llmgraph.training.span.predict import SpanPredictor

predictor = SpanPredictor.load(sys.argv[1])
docs = [document_from_report(name, char * 1_000_000) for name, char in (("bang", "!"), ("cjk", "\\u4e00"), ("a", "a"))]
limit_memory(250)
print(json.dumps([[d.id, len(d.tokens), len(d.entities)] for d in predictor.predict(docs)]))
""", str(span_model))
    assert done.returncode == 0, done.stderr[-2000:]
    assert [[name, tokens] for name, tokens, _ in json.loads(done.stdout)] == [["bang", 1], ["cjk", 1], ["a", 1]]


@pytest.mark.slow
def test_relation_pairs_are_found_and_scored_in_memory_linear_in_the_pairs():
    done = run_limited("""
import json, torch
from llmgraph.core.document import Document
from llmgraph.training.span.model import SpanHeads
from llmgraph.training.span.predict import annotate
from llmgraph.training.span.tags import tag_set

heads = SpanHeads(8, tag_set(["OBS-DP"]), ["OBS-DP"]).eval()
with torch.no_grad():  # every token its own entity; no pair related
    heads.tagger.weight.zero_(); heads.tagger.bias.copy_(torch.tensor([0.0, 1.0, 0.0]))
    heads.pair_classifier[-1].weight.zero_(); heads.pair_classifier[-1].bias.copy_(torch.tensor([1.0, 0, 0, 0]))
doc = Document("many", " ".join(["effusion"] * 10000))
vectors = torch.randn(10000, 8)
limit_memory(400)
with torch.inference_mode():
    found = annotate(doc, vectors, heads, window=17)
print(json.dumps([len(found.entities), len(found.relations)]))
""")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == [10000, 0]


def test_candidate_pairs_are_the_close_pairs_in_source_major_order():
    import random

    import torch

    from llmgraph.training.span.model import Span, candidate_pairs

    rng = random.Random(0)
    for _ in range(300):
        starts = [rng.randint(0, 40) for _ in range(rng.randint(0, 25))]
        window = rng.randint(0, 12)
        expected = [[i, j] for i, a in enumerate(starts) for j, b in enumerate(starts) if i != j and abs(a - b) <= window]
        found = candidate_pairs([Span(start, start, "A") for start in starts], window)
        assert found.tolist() == expected and found.dtype == torch.long


def test_the_radgraph_package_system_refuses_over_long_reports_per_report():
    from llmgraph.systems.radgraph import radgraph_system

    seen: list[str] = []

    class Package:
        """The package's predictor interface, without the package: empty graphs, and the reports it saw."""

        def predict(self, docs):
            seen.extend(doc.id for doc in docs)
            return [replace(doc, entities=[], relations=[]) for doc in docs]

        def describe(self):
            return {"name": "radgraph"}

        def close(self):
            pass

    system = radgraph_system("radgraph-xl")
    system.load = Package
    docs = [document_from_report("long", "effusion " * 2001), document_from_report("bad", SURROGATE_REPORT),
            document_from_report("ok", "No effusion.")]
    (predicted, errors), = system.stream(docs)
    assert errors == {"long": "report too long (2001 tokens > 2000)", "bad": SURROGATE_PROBLEM}
    assert [doc.id for doc in predicted] == seen == ["ok"]


# --- 3. a lone surrogate is a per-report problem ------------------------------------------------------------

def test_a_lone_surrogate_is_a_per_report_error_on_the_span_path(span_model):
    from llmgraph.systems.span import span_system

    system = span_system(span_model)
    try:
        (predicted, errors), = system.stream([document_from_report("bad", SURROGATE_REPORT),
                                               document_from_report("ok", "Small left pleural effusion.")])
    finally:
        system.close()
    assert errors == {"bad": SURROGATE_PROBLEM}
    assert [doc.id for doc in predicted] == ["ok"] and predicted[0].entities


def test_a_lone_surrogate_never_reaches_an_llm_backend():
    backend = RecordingBackend()
    extractor = Extractor(ExtractionConfig(prompt="zero-shot", shots=0), [], backend)
    run = extractor.run([document_from_report("bad", SURROGATE_REPORT), document_from_report("ok", "No effusion.")])
    assert run.errors == {"bad": SURROGATE_PROBLEM}
    assert [doc.id for doc in run.documents] == ["ok"] and len(backend.prompts) == 1
    stored = Document("escaped", "Effusion \udfff .")  # a RadGraph file may hold one as a \\u escape
    assert Extractor(ExtractionConfig(prompt="zero-shot", shots=0), [], backend).run([stored]).errors == {
        "escaped": "text is not valid Unicode (lone surrogate U+DFFF at character 9)"}


# --- 4. span training refuses what it cannot use, and says how it chose the epoch ------------------------------

@pytest.mark.parametrize("options, problem", [
    ({"epochs": 0}, "epochs must be a whole number of at least 1 (got 0)"),
    ({"batch_size": 0}, "batch size must be a whole number of at least 1 (got 0)"),
    ({"lr": 0.0}, "learning rate must be a number above 0 (got 0.0)"),
    ({"lr": float("nan")}, "learning rate must be a number above 0 (got nan)"),
    ({"head_lr": -1.0}, "head learning rate must be a number above 0 (got -1.0)"),
])
def test_bad_training_settings_are_one_line_errors(tmp_path, options, problem):
    from llmgraph.training.span.train import train_span

    with pytest.raises(InputError) as raised:
        train_span(GOLD[:2], None, tmp_path / "model", **({"epochs": 1} | options), progress=False)
    assert str(raised.value) == problem
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("dev", [[], [Document("blank", "")]])
def test_a_dev_set_without_reports_is_an_error(tmp_path, dev):
    from llmgraph.training.span.train import train_span

    with pytest.raises(InputError, match="^the dev set has no reports"):
        train_span(GOLD[:2], dev, tmp_path / "model", epochs=1, progress=False)


def test_without_a_dev_set_the_last_epoch_is_kept_and_recorded_as_such(tmp_path):
    from llmgraph.training.span.predict import SpanPredictor
    from llmgraph.training.span.train import train_span

    card = train_span(GOLD[:3], None, tmp_path / "model", epochs=2, progress=False)
    assert card["best"] == card["history"][-1] and card["best"]["epoch"] == 2
    assert not any(key.startswith("dev_") for entry in card["history"] for key in entry)
    assert card["training"]["dev_reports"] is None and "not chosen on a dev set" in card["epoch_selection"]
    assert json.loads((tmp_path / "model" / "span_model.json").read_text())["epoch_selection"] == card["epoch_selection"]
    described = SpanPredictor.load(tmp_path / "model").describe()
    assert described["dev"] is None and "no dev set" in described["epoch_selection"]


def test_compare_trains_without_a_dev_set_when_none_is_given_and_says_so(tmp_path):
    write_radgraph(GOLD[3:6], tmp_path / "train.json")
    experiment = write_experiment(tmp_path, "  - {name: span, type: span, train: {train: train.json, epochs: 1}}\n")
    _, outcome = compare_in_process(experiment, tmp_path / "out")
    assert outcome.manifest["backend"]["dev"] is None
    assert "no dev set" in outcome.manifest["backend"]["epoch_selection"]
    (card,) = (tmp_path / "out" / "span-models").glob("*/span_model.json")
    training = json.loads(card.read_text())["training"]
    assert training["train_reports"] == 3 and training["dev_reports"] is None


# --- 5. an exemplar pool too small for `shots` is refused before any model loads ------------------------------

def test_more_shots_than_annotated_reports_is_refused_when_the_system_is_built(tmp_path):
    from llmgraph.systems.llm import LLMSystem

    write_radgraph(GOLD[:3], tmp_path / "pool.json")
    pool = read_radgraph(tmp_path / "pool.json")
    config = ExtractionConfig(backend="transformers", model=str(tmp_path / "no-such-model"), shots=5)
    with pytest.raises(InputError) as raised:
        LLMSystem(config, pool, examples_source=tmp_path / "pool.json")
    assert str(raised.value) == f"{tmp_path / 'pool.json'}: shots 5 is more than the 3 annotated reports of the exemplar pool"
    with pytest.raises(InputError, match="shots 5 is more than the 3 annotated reports"):
        Extractor(config, pool, RecordingBackend(), examples_source=tmp_path / "pool.json")


def test_a_pool_without_annotations_is_refused_naming_its_file(tmp_path):
    from llmgraph.systems.llm import LLMSystem

    write_radgraph([replace(doc, entities=[], relations=[]) for doc in GOLD[:4]], tmp_path / "plain.json")
    config = ExtractionConfig(backend="transformers", model=str(tmp_path / "no-such-model"), shots=3)
    with pytest.raises(InputError) as raised:
        LLMSystem(config, read_radgraph(tmp_path / "plain.json"), examples_source=tmp_path / "plain.json")
    assert str(raised.value) == (f"{tmp_path / 'plain.json'}: shots 3 needs exemplars, but the exemplar pool has "
                                 "no annotated reports")


def test_compare_refuses_too_many_shots_before_any_system_runs(tmp_path):
    write_radgraph(GOLD[:3], tmp_path / "pool.json")
    experiment = write_experiment(tmp_path, f"  - {{name: span, type: span, model: {tmp_path / 'no-model'}}}\n"
                                            "  - {name: many, backend: transformers, model: no-such-model, shots: 100}\n")
    experiment.write_text(experiment.read_text().replace("systems:", "examples: pool.json\nsystems:"))
    from llmgraph.harness.compare import Harness
    from llmgraph.harness.experiment import load_experiment

    lines: list[str] = []
    with pytest.raises(InputError) as raised:
        Harness(load_experiment(experiment), tmp_path / "out", log=lines.append).run()
    assert str(raised.value) == (f"{tmp_path / 'pool.json'}: system many: shots 100 is more than the 3 annotated "
                                 "reports of the exemplar pool")
    assert not any("running" in line for line in lines) and not (tmp_path / "out" / "systems").exists()


def test_the_manifest_counts_reports_that_got_fewer_exemplars_than_shots():
    pool = GOLD[:3]
    extractor = Extractor(ExtractionConfig(prompt="few-shot", shots=3, chunk_words=0), pool, RecordingBackend())
    run = extractor.run([GOLD[0], GOLD[10]])  # GOLD[0] is in the pool: never its own exemplar
    assert run.counts["exemplars_used"] == 2 + 3
    assert run.counts["reports_with_fewer_exemplars"] == 1
    manifest = extractor.manifest(run)
    assert manifest["prompt"]["shots"] == 3 and manifest["prompt"]["reports_with_fewer_exemplars"] == 1
    assert manifest["counts"]["exemplars_used"] == 5
