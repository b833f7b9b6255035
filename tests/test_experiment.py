"""Experiment files: the shipped examples parse, sweeps expand, and every mistake names its key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmgraph.core.errors import InputError
from llmgraph.harness.experiment import load_experiment

EVAL = Path(__file__).resolve().parent.parent / "eval"
GOLD = "gold: [{name: s, path: g.json}]\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_experiments_parse():
    mirror = load_experiment(EVAL / "gpt4-mirror.yaml")
    assert [(s.name, s.type) for s in mirror.systems] == [
        ("zero-shot", "llm"), ("few-shot", "llm"), ("guideline", "llm"), ("smollm-finetuned", "llm"),
        ("span-baseline", "span")]
    # The fine-tuned arm is trained on the span baseline's data.
    assert mirror.systems[3].settings["train"] == {**mirror.systems[4].settings["train"], "epochs": 2}
    ablation = load_experiment(EVAL / "finetune-ablation.yaml")
    assert [s.settings["grammar"] for s in ablation.systems] == ["report", "json", "none"]
    assert len({repr(s.settings["train"]) for s in ablation.systems}) == 1
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
    ("systems: [{name: a, type: spam}]", "systems[0].type: unknown system type 'spam' (expected one of llm, span, radgraph, predictions)"),
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
    from llmgraph.core.labels import LabelSet
    from llmgraph.extraction.backends import BACKENDS
    from llmgraph.extraction.grammar import GrammarMode
    from llmgraph.io.validation import load_schema
    from llmgraph.systems.radgraph_package import RADGRAPH_MODELS

    definitions = load_schema("experiment.schema.json")["$defs"]
    settings = definitions["llm_properties"]["properties"]
    assert settings["labels"]["enum"] == [label_set.value for label_set in LabelSet]
    assert sorted(settings["grammar"]["enum"]) == sorted(mode.value for mode in GrammarMode)
    assert settings["backend"]["enum"] == list(BACKENDS)
    assert definitions["radgraph_system"]["properties"]["model"]["enum"] == list(RADGRAPH_MODELS)


# --- YAML: aliases within a budget, no duplicate keys ---------------------------------------------------

def test_anchors_aliases_and_merge_keys_used_sensibly_keep_working(tmp_path):
    experiment = load_experiment(write(tmp_path, GOLD + """
defaults: &defaults {grammar: report, decoding: &greedy {temperature: 0, max_tokens: 64}}
systems:
  - &base {name: a, prompt: zero-shot, shots: 0, decoding: *greedy}
  - {<<: *base, name: b, shots: 2}
  - {<<: [*base, *defaults], name: c, grammar: json}
  - {<<: *base, name: d, decoding: {<<: *greedy, temperature: 0.5}}
sweeps:
  - {vary: {prompt: [few-shot]}, settings: *defaults}
"""))
    settings = {system.name: system.settings for system in experiment.systems}
    assert list(settings) == ["a", "b", "c", "d", "few-shot"]
    assert settings["b"]["shots"] == 2 and settings["b"]["prompt"] == "zero-shot"  # explicit keys win over merged
    assert settings["c"]["grammar"] == "json"
    assert settings["d"]["decoding"] == {"temperature": 0.5, "max_tokens": 64}
    assert settings["few-shot"]["decoding"] == {"temperature": 0, "max_tokens": 64}


def _laughs(levels: int) -> str:
    """A 'billion laughs' file: a name holding anchors, each of nine aliases of the one before."""
    anchors = ["&l0 lol", *(f"&l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]" for level in range(1, levels + 1))]
    return GOLD + "systems:\n  - name: [" + ", ".join(anchors) + "]\n"


CHILD = """
import sys
from llmgraph.core.errors import InputError
from llmgraph.harness.experiment import load_experiment
try:
    load_experiment(sys.argv[1])
except InputError as error:
    print(error)
    sys.exit(2)
"""


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (512 * 2**20, 512 * 2**20))


def load_in_child(path: Path) -> subprocess.CompletedProcess[str]:
    """``load_experiment(path)`` in a child limited to 512 MB and 30 s, so an input that would take the
    machine's memory fails the test instead; it prints the ``InputError`` and exits 2."""
    return subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=30,
                          preexec_fn=_limit_memory, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})


@pytest.mark.parametrize("text, message", [
    (_laughs(9), "more than 100,000 values once its aliases are expanded"),  # 488 bytes, 9**9 values
    (_laughs(7), "more than 100,000 values once its aliases are expanded"),  # was a 34 MB error
    (GOLD + "systems: &s [{name: a, decoding: *s}]\n",
     "decoding[0]: nested more than 50 levels deep (an alias inside its own anchor?)"),
    (GOLD + "systems: [{name: a}]\nd0: &d0 [1]\n" + "".join(f"d{i}: &d{i} [*d{i - 1}]\n" for i in range(1, 60)),
     ": d48[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"),
    (GOLD + "sweeps: [{name: '{shots:>300000000}', vary: {shots: [1, 2]}}]\n",
     "sweeps[0].name: name template '{shots:>300000000}': '{shots:>300000000}' is not one of {shots}"),
], ids=["laughs-9-levels", "laughs-7-levels", "recursive-alias", "alias-chain-60-deep",
        "sweep-name-format-spec"])
def test_inputs_that_would_blow_up_are_one_short_line(tmp_path, text, message):
    path = write(tmp_path, text)
    done = load_in_child(path)
    assert done.returncode == 2, done.stderr[-2000:]
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"{path}: ") and message in line
    assert len(line) < len(str(path)) + 300


@pytest.mark.parametrize("body, message", [
    ("systems:\n  - name: a\n    prompt: zero-shot\n    prompt: few-shot\n",
     "line 5: duplicate key 'prompt' (first given on line 4)"),
    ("systems: [{name: a, shots: 1, shots: 2}]\n", "line 2: duplicate key 'shots' (first given on line 2)"),
    ("systems: [{name: a}]\nsystems: [{name: b}]\n", "line 3: duplicate key 'systems' (first given on line 2)"),
    ("defaults: &d {shots: 1}\nsystems: [{<<: *d, name: a, name: b}]\n", "line 3: duplicate key 'name'"),
    ("systems: [{name: a, yes: 1}]\n", "line 2: the key yes is not text (quote it)"),
    ("systems: [{name: a, 3: 1}]\n", "line 2: the key 3 is not text (quote it)"),
    ("systems: [{name: a, shots: " + "9" * 5000 + "}]\n", "line 2: a number of 5,000 digits is too long"),
    ("systems: " + "[" * 5000 + "]" * 5000 + "\n", "line 2: nested more than 50 levels deep"),
    ("gold: [1\nsystems: {", "line 2: not valid YAML (expected ',' or ']', but got ':')"),
])
def test_yaml_mistakes_name_their_line(tmp_path, body, message):
    path = write(tmp_path, body if body.startswith("gold") else GOLD + body)
    with pytest.raises(InputError) as raised:
        load_experiment(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


# --- sweep names: plain {key} substitution, names the schema accepts -------------------------------------

@pytest.mark.parametrize("name, vary, message", [
    ("..", "{shots: [1]}", "sweeps[0].name: name template '..' makes the name '..'; a name matches"),
    ("{shots}/..", "{shots: [1]}", "sweeps[0].name: name template '{shots}/..' makes the name '1/..'"),
    ("{prompt.__class__}", "{prompt: [a]}", "'{prompt.__class__}' is not one of {prompt}"),
    ("{prompt[0]}", "{prompt: [a]}", "'{prompt[0]}' is not one of {prompt}"),
    ("{shots:>3}", "{shots: [1]}", "'{shots:>3}' is not one of {shots}"),
    ("{}-{shots}", "{shots: [1]}", "'{}' is not one of {shots}"),
    ("{shots!r}", "{shots: [1], prompt: [a]}", "'{shots!r}' is not one of {shots}, {prompt}"),
    ("{shots", "{shots: [1]}", "name template '{shots' has a '{' without its pair"),
    ("{prompt}", "{prompt: [" + "p" * 150 + "]}", "makes the name 'ppppppppppppppppppppppppp ... [1"),
    ("{shots}", "{shots: [" + ", ".join(map(str, range(1001))) + "]}",
     "sweeps[0].vary: 1,001 combinations make 1,001 systems, more than the 1,000 an experiment may have"),
    ("x" * 201, "{shots: [1]}", "sweeps[0].name: 'xxxxxxxxxxxxxxxxxxxxxxxxx ... [1"),
])
def test_sweep_names_are_plain_key_substitution(tmp_path, name, vary, message):
    path = write(tmp_path, GOLD + f"sweeps: [{{name: '{name}', vary: {vary}}}]\n")
    with pytest.raises(InputError) as raised:
        load_experiment(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)
    assert len(str(raised.value)) < len(str(path)) + 300


def test_sweep_names_keep_a_models_version_and_drop_only_known_suffixes(tmp_path):
    experiment = load_experiment(write(tmp_path, GOLD + """
sweeps:
  - name: "{model}_{prompt}"
    vary: {model: [Qwen/Qwen2.5-7B-Instruct, Qwen/Qwen2.5-14B-Instruct, models/tiny.gguf], prompt: [prompts/mine.j2]}
"""))
    assert [system.name for system in experiment.systems] == [
        "Qwen2.5-7B-Instruct_mine", "Qwen2.5-14B-Instruct_mine", "tiny_mine"]


# --- numbers: each numeric key has its bounds, named in the message --------------------------------------

@pytest.mark.parametrize("body, message", [
    ("gold: [{name: s, path: g.json, limit: 0}]\nsystems: [{name: a}]",
     "gold[0].limit: 0 is less than the minimum of 1"),
    ("bootstrap: {samples: 9}", "bootstrap.samples: 9 is less than the minimum of 10"),
    ("bootstrap: {seed: -1}", "bootstrap.seed: -1 is less than the minimum of 0"),
    ("bootstrap: {confidence: 0}", "bootstrap.confidence: 0 is less than or equal to the minimum of 0"),
    ("bootstrap: {confidence: 1}", "bootstrap.confidence: 1 is greater than or equal to the maximum of 1"),
    ("bootstrap: {confidence: .nan}", "bootstrap.confidence: nan is not a finite number"),
    ("defaults: {decoding: {temperature: -0.5}}", "defaults.decoding.temperature: -0.5 is less than the minimum of 0"),
    ("defaults: {decoding: {temperature: .nan}}", "defaults.decoding.temperature: nan is not a finite number"),
    ("defaults: {decoding: {temperature: .inf}}", "defaults.decoding.temperature: inf is not a finite number"),
    ("defaults: {decoding: {max_tokens: 0}}", "defaults.decoding.max_tokens: 0 is less than the minimum of 1"),
    ("defaults: {decoding: {max_tokens: 512.0}}", "defaults.decoding.max_tokens: 512.0 is not of type 'integer'"),
    ("defaults: {decoding: {seed: -1}}", "defaults.decoding.seed: -1 is less than the minimum of 0"),
    ("defaults: {decoding: {seed: 4294967296}}",
     "defaults.decoding.seed: 4294967296 is greater than the maximum of 4294967295"),
    ("defaults: {shots: -1}", "defaults.shots: -1 is less than the minimum of 0"),
    ("defaults: {shots: 2.0}", "defaults.shots: 2.0 is not of type 'integer'"),
    ("defaults: {shots: true}", "defaults.shots: True is not of type 'integer'"),
    ("defaults: {batch_size: 0}", "defaults.batch_size: 0 is less than the minimum of 1"),
    ("defaults: {max_entities: 0}", "defaults.max_entities: 0 is less than the minimum of 1"),
    ("defaults: {concurrency: 0}", "defaults.concurrency: 0 is less than the minimum of 1"),
    ("systems: [{name: a, concurrency: 0}]", "systems[0].concurrency: 0 is less than the minimum of 1"),
    ("systems: [{name: a, decoding: {max_tokens: 0}}]",
     "systems[0].decoding.max_tokens: 0 is less than the minimum of 1"),
    ("systems: [{name: a, type: span, model: m, batch_size: 0}]",
     "systems[0].batch_size: 0 is less than the minimum of 1"),
    ("systems: [{name: a, type: span, train: {synth: 1}}]", "systems[0].train.synth: 1 is less than the minimum of 2"),
    ("systems: [{name: a, type: span, train: {synth: 9, epochs: 0}}]",
     "systems[0].train.epochs: 0 is less than the minimum of 1"),
    ("systems: [{name: a, type: span, train: {synth: 9, batch_size: 0}}]",
     "systems[0].train.batch_size: 0 is less than the minimum of 1"),
    ("systems: [{name: a, type: span, train: {synth: 9, learning_rate: 0}}]",
     "systems[0].train.learning_rate: 0 is less than or equal to the minimum of 0"),
    ("systems: [{name: a, type: span, train: {synth: 9, learning_rate: .nan}}]",
     "systems[0].train.learning_rate: nan is not a finite number"),
    ("systems: [{name: a, type: span, train: {synth: 9, seed: -1}}]",
     "systems[0].train.seed: -1 is less than the minimum of 0"),
    ("sweeps: [{vary: {shots: [1, -1]}}]", "sweeps[0].vary.shots[1]: -1 is less than the minimum of 0"),
    ("sweeps: [{vary: {shots: [1, 1.5]}}]", "sweeps[0].vary.shots[1]: 1.5 is not of type 'integer'"),
    ("sweeps: [{vary: {shots: [1]}, settings: {concurrency: 0}}]",
     "sweeps[0].settings.concurrency: 0 is less than the minimum of 1"),
])
def test_numeric_settings_name_the_key(tmp_path, body, message):
    text = body if body.startswith("gold") else GOLD + body + ("" if "systems" in body or "sweeps" in body
                                                              else "\nsystems: [{name: a}]")
    path = write(tmp_path, text + "\n")
    with pytest.raises(InputError) as raised:
        load_experiment(path)
    assert str(raised.value) == f"{path}: {message}"


def test_every_numeric_setting_of_the_schema_has_a_lower_bound():
    from llmgraph.io.validation import load_schema

    def numeric(schema, where):
        if isinstance(schema, dict):
            if schema.get("type") in ("integer", "number"):
                yield where, schema
            for key, value in schema.items():
                yield from numeric(value, f"{where}.{key}")
        elif isinstance(schema, list):
            for index, value in enumerate(schema):
                yield from numeric(value, f"{where}[{index}]")

    found = list(numeric(load_schema("experiment.schema.json"), "schema"))
    assert len(found) >= 15
    assert [where for where, schema in found if "minimum" not in schema and "exclusiveMinimum" not in schema] == []


# --- echoed values are shortened ------------------------------------------------------------------------

@pytest.mark.parametrize("body, start, end", [
    ("systems: [{name: a, shots: [" + ", ".join(["1"] * 3000) + "]}]", "systems[0].shots: [1, 1, 1",
     "is not of type 'integer'"),
    ("systems: [{name: a, backend: " + "b" * 100_000 + "}]", "systems[0].backend: unknown value 'bbb",
     "(expected one of vllm, transformers, openai)"),
    ("systems: [{name: a, " + "k" * 1000 + ": 1}]", "systems[0]: unknown key 'kkk", "kkk'"),
    ("systems: [{name: " + "n" * 100_000 + "}]", "systems[0].name: 'nnn", "nnn' is too long"),
    ("systems: [{name: a, type: " + "t" * 100_000 + "}]", "systems[0].type: unknown system type 'ttt",
     "(expected one of llm, span, radgraph, predictions)"),
])
def test_values_echoed_in_errors_are_shortened(tmp_path, body, start, end):
    path = write(tmp_path, GOLD + body + "\n")
    with pytest.raises(InputError) as raised:
        load_experiment(path)
    problem = str(raised.value).removeprefix(f"{path}: ")
    assert problem.startswith(start) and problem.endswith(end)
    assert "characters left out" in problem and len(problem) < 250


def test_an_unknown_key_after_known_llm_keys_is_the_one_named(tmp_path):
    path = write(tmp_path, GOLD + "systems: [{name: a, model: m, backend: vllm, promt: x}]\n")
    with pytest.raises(InputError, match=r"systems\[0\]: unknown key 'promt'$"):
        load_experiment(path)


def test_the_schema_and_the_typed_configs_have_the_same_keys_and_defaults():
    """Every kind of system's config fields are exactly the keys its schema definition allows, and a
    default the schema states is the config's."""
    from dataclasses import MISSING, fields

    from llmgraph.core.settings import setting_fields
    from llmgraph.io.validation import load_schema
    from llmgraph.systems.kinds import SYSTEM_KINDS, system_kind

    definitions = load_schema("experiment.schema.json")["$defs"]
    where = {"llm": definitions["llm_properties"], "span": definitions["span_system"],
             "radgraph": definitions["radgraph_system"], "predictions": definitions["predictions_system"]}
    assert set(where) == set(SYSTEM_KINDS)
    for kind, definition in where.items():
        config = system_kind(kind).config
        keys = set(definition["properties"]) - {"name", "type"}
        assert keys == set(setting_fields(config)), kind
        for item in fields(config):
            stated = definition["properties"].get(item.name, {}).get("default")
            if stated is not None and item.default is not MISSING:
                assert stated == getattr(item.default, "value", item.default), (kind, item.name)


def test_an_unknown_setting_or_system_type_is_one_line_naming_the_choices():
    from llmgraph.systems.kinds import system_config

    with pytest.raises(InputError, match=r"'temprature': not a setting of llm systems \(expected backend, model"):
        system_config("llm", {"temprature": 0})
    with pytest.raises(InputError, match=r"unknown system type 'gpt' \(expected one of llm, span, radgraph, predictions\)"):
        system_config("gpt", {})
    with pytest.raises(InputError, match="needs a model folder"):
        system_config("span", {})


def test_a_backend_is_one_registry_line_and_takes_only_its_own_options():
    from llmgraph.extraction.backends import BACKENDS, create_backend
    from llmgraph.extraction.backends.base import Decoding
    from llmgraph.extraction.config import ExtractionConfig

    class Echo:  # any class with the Backend constructor's first arguments
        def __init__(self, model, decoding, **options):
            self.model, self.options = model, options

    BACKENDS.entries["echo"] = f"{__name__}:Echo"
    globals()["Echo"] = Echo
    try:
        assert create_backend("echo", "m", Decoding()).model == "m"
    finally:
        del BACKENDS.entries["echo"]
    served = ExtractionConfig(backend="openai", url=["http://a/v1"], concurrency=4, grammar_backend=None)
    assert served.backend_options() == {"base_url": ["http://a/v1"], "concurrency": 4}
    assert ExtractionConfig(backend="vllm", concurrency=4).misplaced_options() == {"concurrency": "openai"}
    with pytest.raises(InputError, match="unknown backend 'tgi'"):
        create_backend("tgi", None, Decoding())
