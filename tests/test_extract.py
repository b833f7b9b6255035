"""End-to-end extraction on the in-process transformers path with the embedded model."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from llmgraph.core.document import document_from_report
from llmgraph.core.resources import sample_gold_path
from llmgraph.extraction.backends import Decoding, create_backend
from llmgraph.extraction.config import ExtractionConfig
from llmgraph.extraction.extractor import Extractor, extract
from llmgraph.extraction.grammar import GrammarMode
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.validation import check_document

pytestmark = pytest.mark.slow  # every test here loads the embedded model or generates with it

REPORTS = [
    "FINDINGS: Small left pleural effusion. No pneumothorax. Heart size is normal.",
    "IMPRESSION: Right lower lobe opacity, likely pneumonia.",
    "Endotracheal tube terminates 2.5 cm above the carina. Mild pulmonary edema.",
]
BAD = {
    "empty": "",
    "long": "effusion " * 20000,
    "german": "Kein Pleuraerguss. Herz normal groß. Keine Stauung.",
    "punctuation": "!!! ... ??? ,,, ;;;",
}


@pytest.fixture(scope="module")
def backend(embedded_model):
    backend = create_backend("transformers", str(embedded_model), Decoding(max_tokens=96), batch_size=4)
    yield backend
    backend.close()


@pytest.mark.parametrize("grammar", [GrammarMode.REPORT, GrammarMode.JSON])
def test_every_output_parses_and_every_entity_is_grounded(backend, grammar):
    """Kept small: this path decodes ~11 tokens/s on two cores. eval/ measures it at scale."""
    gold = read_radgraph(sample_gold_path())
    # The static schema cannot forbid repeats: the model writes entities up to max_entities (kept small).
    config = ExtractionConfig(prompt="few-shot", shots=1, grammar=grammar, decoding=Decoding(max_tokens=96),
                              max_entities=4)
    extractor = Extractor(config, gold, backend)
    chosen = REPORTS[:2] if grammar is GrammarMode.REPORT else REPORTS[:1]
    docs = [document_from_report(str(i), report) for i, report in enumerate(chosen)]
    run = extractor.run(docs)
    assert run.counts["reports_ok"] + run.counts["reports_failed"] == len(docs)
    for problem in run.errors.values():  # only a budget cut-off may fail a report here
        assert "max_tokens" in problem
    for doc in run.documents:
        check_document(doc)  # spans inside the text, tokens equal to the text there, relations resolved
    if grammar is GrammarMode.REPORT:
        assert not run.errors
        assert run.counts["entities_kept"] == run.counts["entities_generated"] > 0  # grounded by construction
    manifest = extractor.manifest(run)
    assert manifest["grammar"] == grammar.value and manifest["prompt"]["sha256"] == extractor.prompt.sha256
    assert manifest["counts"]["completion_tokens"] > 0 and manifest["seconds"]["generation"] > 0


def test_bad_reports_give_documents_or_per_report_errors(backend):
    docs = [document_from_report(name, text) for name, text in BAD.items()]
    run = Extractor(ExtractionConfig(prompt="zero-shot", shots=0, decoding=Decoding(max_tokens=96)), [], backend).run(docs)
    assert run.errors["empty"] == "empty report"
    assert run.errors["long"].startswith("report too long")
    ok = {doc.id: doc for doc in run.documents}
    assert set(ok) | set(run.errors) == set(BAD)
    assert "punctuation" in ok and ok["punctuation"].entities == []  # the grammar offers no span
    for doc in ok.values():
        check_document(doc)


def test_report_beyond_the_model_context_is_a_per_report_error(embedded_model, tmp_path):
    small = create_backend("transformers", str(embedded_model), Decoding(max_tokens=32), max_model_len=512)
    docs = [document_from_report("long", "Small left pleural effusion. " * 120), document_from_report("ok", "No effusion.")]
    # A bare prompt: the report's own length is what must not fit (its 30 chunks need no instructions here).
    prompt = tmp_path / "bare.j2"
    prompt.write_text("<|user|>\nRadGraph JSON of: {{ report }}\n")
    whole = ExtractionConfig(prompt=str(prompt), shots=0, decoding=Decoding(max_tokens=32), chunk_words=0)
    run = Extractor(whole, [], small).run(docs)
    assert run.errors["long"].startswith("report too long for the model context (") and "> 512 tokens" in run.errors["long"]
    assert "ok" not in run.errors
    # in chunks (the default), every piece fits the context
    run = Extractor(replace(whole, chunk_words=None), [], small).run(docs[:1])
    assert run.counts["chunks"] > 20 and not any("model context" in error for error in run.errors.values())


def test_python_api(backend):
    docs = extract(["No acute cardiopulmonary process."], backend=backend)
    assert len(docs) == 1 and docs[0].text == "No acute cardiopulmonary process ."
    check_document(docs[0])


def test_cli_extract_writes_output_and_manifest(tmp_path, embedded_model):
    reports = tmp_path / "reports.txt"
    reports.write_text("\n".join(REPORTS + [""]) + "\n")
    out = tmp_path / "pred.json"
    done = subprocess.run([sys.executable, "-m", "llmgraph", "extract", str(reports), "-o", str(out),
                           "--backend", "transformers", "--model", str(embedded_model), "--shots", "0",
                           "--prompt", "zero-shot", "--max-tokens", "64"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    docs = read_radgraph(out)
    assert [doc.id for doc in docs] == ["1", "2", "3"][:len(docs)]
    manifest = json.loads((tmp_path / "pred.json.manifest.json").read_text())
    assert manifest["backend"]["backend"] == "transformers"
    assert set(manifest) >= {"prompt", "decoding", "grammar", "versions", "seconds", "counts", "errors"}
    assert "reports extracted" in done.stderr


def test_missing_model_is_a_one_line_error(tmp_path):
    reports = tmp_path / "r.txt"
    reports.write_text("No effusion.\n")
    done = subprocess.run([sys.executable, "-m", "llmgraph", "extract", str(reports), "-o", str(tmp_path / "o.json"),
                           "--backend", "transformers", "--model", str(tmp_path / "no-such-model"), "--shots", "0"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no-such-model" in done.stderr and "Traceback" not in done.stderr
