"""Experiment files: the shipped examples parse, sweeps expand, and every mistake names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmgraph.errors import InputError
from llmgraph.experiment import load_experiment

EVAL = Path(__file__).resolve().parent.parent / "eval"
GOLD = "gold: [{name: s, path: g.json}]\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_experiments_parse():
    mirror = load_experiment(EVAL / "gpt4-mirror.yaml")
    assert [(s.name, s.type) for s in mirror.systems] == [
        ("zero-shot", "llm"), ("few-shot", "llm"), ("guideline", "llm"), ("span-baseline", "span")]
    assert mirror.systems[0].settings == {"grammar": "report", "decoding": {"temperature": 0, "max_tokens": 512},
                                          "prompt": "zero-shot", "shots": 0}
    assert mirror.gold[0].path == EVAL / "data" / "sample_gold.json"
    sweep = load_experiment(EVAL / "prompt-sweep.yaml")
    assert len(sweep.systems) == 8
    assert sweep.systems[0].name == "few-shot-1shot-fixed"
    assert sweep.systems[-1].settings["exemplars"] == "nearest" and sweep.systems[-1].settings["shots"] == 3


def test_defaults_merge_and_paths_resolve_relative_to_the_file(tmp_path):
    (tmp_path / "models" / "mine").mkdir(parents=True)
    experiment = load_experiment(write(tmp_path, GOLD + """
defaults: {backend: transformers, decoding: {max_tokens: 100, temperature: 0}}
systems:
  - {name: local, model: models/mine, decoding: {max_tokens: 50}}
  - {name: hub, model: HuggingFaceTB/SmolLM2-135M-Instruct}
  - {name: span, type: span, train: {train: train.json, dev: dev.json}}
"""))
    local, hub, span = experiment.systems
    assert local.settings["model"] == str(tmp_path / "models" / "mine")
    assert local.settings["decoding"] == {"max_tokens": 50, "temperature": 0}
    assert local.settings["backend"] == "transformers"
    assert hub.settings["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"  # a model id, not a path
    assert span.settings["train"] == {"train": str(tmp_path / "train.json"), "dev": str(tmp_path / "dev.json")}
    assert "backend" not in span.settings  # LLM defaults stay with LLM systems


@pytest.mark.parametrize("body, message", [
    ("systems: [{name: a, promt: zero-shot}]", "systems[0]: unknown key 'promt'"),
    ("systems: [{name: a, backend: llama}]", "systems[0].backend: unknown value 'llama' (expected one of vllm, transformers, openai)"),
    ("systems: [{name: a, type: spam}]", "systems[0].type: unknown system type 'spam' (expected one of llm, span, radgraph)"),
    ("systems: [{name: a, type: span}]", "systems[0]: needs exactly one of 'model' or 'train'"),
    ("systems: [{name: a, type: span, model: m, train: {synth: 9}}]", "systems[0]: give only one of 'model' or 'train'"),
    ("systems: [{name: a, type: span, model: m, batchsize: 3}]", "systems[0]: unknown key 'batchsize'"),
    ("systems: [{name: a, type: radgraph, model: radgraph-xxl}]", "systems[0].model: unknown value 'radgraph-xxl'"),
    ("defaults: {decoding: {max_token: 3}}\nsystems: [{name: a}]", "defaults.decoding: unknown key 'max_token'"),
    ("systems: [{name: a, decoding: {temperature: -1}}]", "systems[0].decoding.temperature: -1 is less than the minimum of 0"),
    ("systems: [{name: a}, {name: a}]", "systems: the name 'a' is used twice"),
    ("systems: [{name: a b}]", "systems[0].name: 'a b' does not match"),
    ("sytems: [{name: a}]", "unknown key 'sytems'"),
    ("sweeps: [{vary: {promt: [a]}}]", "sweeps[0].vary: unknown key 'promt'"),
    ("sweeps: [{name: '{model}', vary: {prompt: [a]}}]", "name template '{model}' names 'model', which the sweep does not vary"),
    ("systems: []\nbootstrap: {samples: 0}", "bootstrap.samples: 0 is less than the minimum of 10"),
])
def test_mistakes_name_the_key(tmp_path, body, message):
    path = write(tmp_path, GOLD + body + "\n")
    with pytest.raises(InputError) as raised:
        load_experiment(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


@pytest.mark.parametrize("text, message", [
    ("gold: [{name: s, pth: g.json}]\nsystems: [{name: a}]", "gold[0]: unknown key 'pth'"),
    ("systems: [{name: a}]", "'gold' is a required property"),
    ("gold: [{name: s, path: g.json}, {name: s, path: h.json}]\nsystems: [{name: a}]", "two gold sets have the same name"),
    ("[1, 2", "not valid YAML"),
    ("just text", "expected a YAML mapping"),
])
def test_file_level_mistakes(tmp_path, text, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_experiment(write(tmp_path, text))


def test_missing_experiment_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_experiment(tmp_path / "nope.yaml")


def test_compare_names_a_missing_gold_file_before_running_anything(tmp_path):
    import os
    import subprocess
    import sys

    path = write(tmp_path, "gold: [{name: s, path: missing.json}]\nsystems: [{name: a, type: span, model: m}]\n")
    done = subprocess.run([sys.executable, "-m", "llmgraph", "compare", str(path), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2
    assert done.stderr == f"llmgraph: {tmp_path / 'missing.json'}: no such file\n"
    assert not (tmp_path / "out" / "systems").exists()


def test_schema_values_are_the_codes_values():
    from llmgraph.backends import BACKENDS
    from llmgraph.grammar import GrammarMode
    from llmgraph.labels import LabelSet
    from llmgraph.radgraph_package import RADGRAPH_MODELS
    from llmgraph.validation import load_schema

    definitions = load_schema("experiment.schema.json")["$defs"]
    settings = definitions["llm_properties"]["properties"]
    assert settings["labels"]["enum"] == [label_set.value for label_set in LabelSet]
    assert sorted(settings["grammar"]["enum"]) == sorted(mode.value for mode in GrammarMode)
    assert settings["backend"]["enum"] == list(BACKENDS)
    assert definitions["radgraph_system"]["properties"]["model"]["enum"] == list(RADGRAPH_MODELS)
