"""Hardening, round two: what the newest commands (compare, train-llm, train-span, batch files, the Ray
engine) do to a user's files and results when input is odd. Each test failed before its fix.

Commands run in this process through typer's runner; the span baseline is the fast system.
"""

from __future__ import annotations

from pathlib import Path

# the first round's helpers: commands in this process, and the one-line error check
from test_hardening import llmgraph, one_line_error
from typer.testing import CliRunner

from llmgraph.cli.app import app
from llmgraph.core.resources import sample_gold_path
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph

GOLD = read_radgraph(sample_gold_path())


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


# 1. compare never writes over what it reads ---------------------------------------------------------

def test_compare_refuses_a_gold_file_where_it_writes_its_gold_copies(tmp_path, span_model):
    (tmp_path / "gold").mkdir()
    write_radgraph(GOLD[:10], tmp_path / "gold" / "g.json")
    (tmp_path / "e.yaml").write_text("gold: [{name: g, path: gold/g.json, limit: 5}]\n"
                                     f"systems: [{{name: s, type: span, model: {span_model}}}]\n")
    before = snapshot(tmp_path)
    one_line_error(llmgraph("compare", tmp_path / "e.yaml", "-o", tmp_path),
                   f"gold set g {tmp_path / 'gold' / 'g.json'} lies where this command writes ({tmp_path / 'gold'})")
    assert snapshot(tmp_path) == before, "nothing written, the user's gold keeps its 10 reports"


def test_compare_refuses_a_prediction_file_under_its_systems_folder(tmp_path):
    out = tmp_path / "out"
    predictions = out / "systems" / "p" / "g.json"
    predictions.parent.mkdir(parents=True)
    write_radgraph(GOLD[:3], predictions)
    write_radgraph(GOLD[:3], tmp_path / "g.json")
    (tmp_path / "e.yaml").write_text("gold: [{name: g, path: g.json}]\n"
                                     f"systems: [{{name: p, type: predictions, path: {predictions}}}]\n")
    before = snapshot(tmp_path)
    one_line_error(llmgraph("compare", tmp_path / "e.yaml", "-o", out),
                   "system p's file", "lies where this command writes", "systems")
    assert snapshot(tmp_path) == before


def test_compare_refuses_an_exemplar_pool_or_a_training_file_among_its_outputs(tmp_path):
    out = tmp_path / "out"
    (out / "span-models").mkdir(parents=True)
    write_radgraph(GOLD[:4], out / "span-models" / "train.json")
    write_radgraph(GOLD[:3], tmp_path / "g.json")
    (tmp_path / "e.yaml").write_text("gold: [{name: g, path: g.json}]\n"
                                     "systems: [{name: s, type: span, train: {train: out/span-models/train.json}}]\n")
    one_line_error(llmgraph("compare", tmp_path / "e.yaml", "-o", out), "system s's file", "span-models")
    (tmp_path / "e.yaml").write_text("gold: [{name: g, path: g.json}]\nexamples: out/results.md\n"
                                     "systems: [{name: z, shots: 0}]\n")
    (out / "results.md").write_text("not a gold file")
    one_line_error(llmgraph("compare", tmp_path / "e.yaml", "-o", out), "exemplar pool", "results.md")
    (out / "gold").mkdir()  # a link placed where compare writes counts as lying there
    (out / "gold" / "g.json").symlink_to(tmp_path / "g.json")
    (tmp_path / "e.yaml").write_text("gold: [{name: g, path: out/gold/g.json}]\nsystems: [{name: z, shots: 0}]\n")
    one_line_error(llmgraph("compare", tmp_path / "e.yaml", "-o", out), "gold set g", "lies where this command writes")


def test_compare_runs_when_its_inputs_sit_beside_its_outputs(tmp_path, span_model):
    """Inputs in the output folder itself, under names compare never writes, are fine."""
    write_radgraph(GOLD[:3], tmp_path / "g.json")
    (tmp_path / "e.yaml").write_text("gold: [{name: g, path: g.json}]\nbootstrap: {samples: 10}\n"
                                     f"systems: [{{name: s, type: span, model: {span_model}}}]\n")
    done = llmgraph("compare", tmp_path / "e.yaml", "-o", tmp_path)
    assert done.exit_code == 0, done.stderr
    assert len(read_radgraph(tmp_path / "g.json")) == 3 and (tmp_path / "results.csv").exists()


# 2. train-llm --force and train-span never delete or write over their own inputs ---------------------

def test_train_llm_refuses_an_output_folder_that_holds_its_training_data(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write_radgraph(GOLD[:4], data / "tiny.json")
    (data / "notes.txt").write_text("the user's other work")
    before = snapshot(tmp_path)
    for extra in ([], ["--force"]):
        one_line_error(llmgraph("train-llm", "--train", data / "tiny.json", "-o", data, *extra),
                       f"{data}: holds the training or dev file {data / 'tiny.json'}")
    write_radgraph(GOLD[:4], tmp_path / "train.json")
    one_line_error(llmgraph("train-llm", "--train", tmp_path / "train.json", "--dev", data / "tiny.json", "-o", data,
                            "--force"), "holds the training or dev file")
    prompt = data / "mine.j2"
    prompt.write_text("<|user|>\n{{ report }}\n")
    one_line_error(llmgraph("train-llm", "--train", tmp_path / "train.json", "--prompt", prompt, "-o", data,
                            "--force"), "holds the prompt")
    prompt.unlink()
    assert snapshot(tmp_path) == before | {"train.json": (tmp_path / "train.json").read_bytes()}


def test_train_llm_force_replaces_only_a_model_folder(tmp_path):
    write_radgraph(GOLD[:4], tmp_path / "train.json")
    other = tmp_path / "results"
    other.mkdir()
    (other / "table.csv").write_text("a,b\n")
    one_line_error(llmgraph("train-llm", "--train", tmp_path / "train.json", "-o", other, "--force"),
                   "is not a model folder (no llm_model.json) and holds other files: --force replaces only")
    assert (other / "table.csv").read_text() == "a,b\n"


def test_a_base_model_inside_the_output_folder_is_refused(tmp_path, embedded_model):
    import pytest

    from llmgraph.core.errors import InputError
    from llmgraph.training.llm.checks import check_output_folder
    from llmgraph.training.llm.config import LLMTrainingConfig

    with pytest.raises(InputError, match="holds the base model"):
        check_output_folder(embedded_model.parent, True, LLMTrainingConfig(model=str(embedded_model)))


def test_train_span_refuses_a_folder_that_holds_its_inputs_or_other_files(tmp_path, span_model):
    data = tmp_path / "data"
    data.mkdir()
    write_radgraph(GOLD[:3], data / "train.json")
    before = snapshot(tmp_path)
    one_line_error(llmgraph("train-span", "--train", data / "train.json", "-o", data, "--epochs", "1"),
                   "holds the training file")
    write_radgraph(GOLD[:3], tmp_path / "train.json")
    one_line_error(llmgraph("train-span", "--train", tmp_path / "train.json", "-o", data, "--epochs", "1"),
                   "is not a model folder (no span_model.json) and holds other files: training writes into only")
    one_line_error(llmgraph("train-span", "--train", tmp_path / "train.json", "-o", span_model, "--epochs", "1",
                            "--encoder", span_model / "encoder"), "holds the encoder")
    assert snapshot(data) == {k.removeprefix("data/"): v for k, v in before.items()}


# 7. train-llm on a base model without a chat template --------------------------------------------------

def test_train_llm_on_a_model_without_a_chat_template_is_one_line(tmp_path, embedded_model):
    base = tmp_path / "base-model"
    base.mkdir()
    for file in embedded_model.iterdir():
        if file.name != "chat_template.jinja":
            (base / file.name).symlink_to(file)
    write_radgraph(GOLD[:4], tmp_path / "train.json")
    one_line_error(llmgraph("train-llm", "--train", tmp_path / "train.json", "--model", base, "-o", tmp_path / "m"),
                   f"model {base} has no chat template (a base model?)")
    assert not (tmp_path / "m").exists()


# 8. A damaged span model folder -------------------------------------------------------------------------

def test_a_damaged_span_model_is_a_one_line_error_naming_the_file(tmp_path, span_model):
    import shutil

    reports = tmp_path / "r.txt"
    reports.write_text("No effusion.\n")
    cases = {"garbage": lambda m: (m / "heads.pt").write_bytes(b"\x80\x04not a pickle at all"),
             "truncated": lambda m: (m / "heads.pt").write_bytes((span_model / "heads.pt").read_bytes()[:5000]),
             "missing": lambda m: (m / "heads.pt").unlink(),
             "card": lambda m: (m / "span_model.json").write_text("{")}
    for name, damage in cases.items():
        model = tmp_path / name
        shutil.copytree(span_model, model)
        damage(model)
        file = "span_model.json" if name == "card" else "heads.pt"
        one_line_error(llmgraph("extract", reports, "-o", tmp_path / f"{name}.json", "--type", "span", "--model", model),
                       f"{model / file}: ", "train-span")


# 10. Predictions keyed by position share no id with the gold --------------------------------------------

def test_predictions_with_no_report_id_in_common_with_the_gold_are_refused(tmp_path):
    from dataclasses import replace

    gold = tmp_path / "gold.json"
    write_radgraph(GOLD[:5], gold)
    by_position = tmp_path / "radgraph_outputs.json"
    write_radgraph([replace(doc, id=str(n)) for n, doc in enumerate(GOLD[:5])], by_position)
    done = llmgraph("evaluate", "--gold", gold, "--pred", by_position, "--bootstrap", "0")
    one_line_error(done, f"{by_position}: no report id in common with the gold file {gold} (predictions: '0', '1', "
                         f"'2', ...; gold: {GOLD[0].id!r}")
    (tmp_path / "e.yaml").write_text(f"gold: [{{name: g, path: {gold}}}]\nbootstrap: {{samples: 10}}\n"
                                     f"systems: [{{name: p, type: predictions, path: {by_position}}}]\n")
    done = llmgraph("compare", tmp_path / "e.yaml", "-o", tmp_path / "out")
    assert done.exit_code == 1
    assert f"system p on g failed: {by_position}: no report id in common with gold set g (predictions: '0'" in done.stderr
    # One id in common is a (poor) prediction file, scored as before.
    write_radgraph([replace(doc, id=str(n)) if n else doc for n, doc in enumerate(GOLD[:5])], by_position)
    assert llmgraph("evaluate", "--gold", gold, "--pred", by_position, "--bootstrap", "0").exit_code == 0


# 12. Smaller surprises ------------------------------------------------------------------------------------

def test_batch_requests_refuse_to_replace_a_requests_file_without_force(tmp_path):
    reports = tmp_path / "reports.txt"
    reports.write_text("No effusion.\nMild cardiomegaly.\n")
    requests = tmp_path / "requests.jsonl"
    options = ["--served-model", "m", "--shots", "0", "--prompt", "zero-shot"]
    assert llmgraph("batch", "requests", reports, "-o", requests, *options).exit_code == 0
    sent = requests.read_bytes(), (tmp_path / "requests.jsonl.manifest.json").read_bytes()
    reports.write_text("Small left effusion.\n")
    one_line_error(llmgraph("batch", "requests", reports, "-o", requests, *options),
                   f"{requests}: exists", "--force")
    assert (requests.read_bytes(), (tmp_path / "requests.jsonl.manifest.json").read_bytes()) == sent
    assert llmgraph("batch", "requests", reports, "-o", requests, *options, "--force").exit_code == 0
    assert requests.read_bytes() != sent[0]


def test_a_labeler_named_for_a_file_without_two_labelers_is_refused_in_training(tmp_path):
    write_radgraph(GOLD[:4], tmp_path / "train.json")
    one_line_error(llmgraph("train-llm", "--train", tmp_path / "train.json", "--labeler", "2", "-o", tmp_path / "m"),
                   "--labeler 2 given, but the file has no labeler_1/labeler_2 annotations")
    one_line_error(llmgraph("train-span", "--train", tmp_path / "train.json", "--labeler", "1", "-o", tmp_path / "s"),
                   "--labeler 1 given, but the file has no labeler_1/labeler_2 annotations")


def test_section_headers_are_found_after_carriage_return_only_line_ends():
    from llmgraph.core.document import document_from_report
    from llmgraph.extraction.chunking import split
    from llmgraph.io.reports import find_sections

    for newline in ("\n", "\r\n", "\r"):
        text = newline.join(["FINDINGS: Small left pleural effusion. Heart size is normal. Lungs are clear.",
                             "IMPRESSION: Small effusion."])
        assert list(find_sections(text)) == ["findings", "impression"], repr(newline)
        chunks = split(document_from_report("r", text), 5)
        assert [chunk.section for chunk in chunks][-1] == "impression", repr(newline)
        assert all("IMPRESSION" not in chunk.doc.tokens for chunk in chunks if chunk.section == "findings")


def test_a_parquet_file_without_rows_has_no_reports(tmp_path, span_model):
    import pandas as pd

    source = tmp_path / "reports.parquet"
    pd.DataFrame({"id": pd.Series([], dtype=str), "report": pd.Series([], dtype=str)}).to_parquet(source)
    one_line_error(llmgraph("extract", source, "-o", tmp_path / "o.json", "--type", "span", "--model", span_model),
                   f"{source}: no reports")


def test_the_ray_extra_shows_in_help():
    done = CliRunner().invoke(app, ["extract", "--help"], env={"COLUMNS": "300"})
    assert "pip install 'llmgraph[ray]'" in done.stdout
