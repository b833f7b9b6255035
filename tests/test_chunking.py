"""Long reports in chunks: whole sentences within a section, generated together, merged back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmgraph.core.document import document_from_report
from llmgraph.core.resources import sample_gold_path
from llmgraph.evaluation.scoring import evaluate
from llmgraph.extraction.backends.base import Generation, GenerationRequest
from llmgraph.extraction.chunking import chunk_gold, default_chunk_words, merge_chunks, split
from llmgraph.extraction.config import ExtractionConfig
from llmgraph.extraction.extractor import Extractor
from llmgraph.extraction.prompting import example_output, report_text
from llmgraph.io.radgraph_reader import read_radgraph

GOLD = read_radgraph(sample_gold_path())
LONG_GOLD = Path(__file__).resolve().parents[1] / "eval" / "data" / "long_gold.json"
REPORT = ("EXAMINATION: CT chest.\nFINDINGS: A 1.8 cm nodule in the right upper lobe. No effusion. "
          "The heart is normal in size. Mild emphysema.\n1. Stable nodule.\n2. No new effusion.\n"
          "IMPRESSION: Stable 1.8 cm right upper lobe nodule.")


def _words(tokens: list[str]) -> int:
    return sum(any(ch.isalnum() for ch in token) for token in tokens)


def test_a_report_that_fits_is_one_chunk_of_itself():
    doc = GOLD[0]
    (chunk,) = split(doc, 10_000)
    assert chunk.doc is doc and chunk.start == 0 and chunk.total == 1
    assert split(doc, 0)[0].doc is doc  # 0: whole reports


def test_chunks_are_whole_sentences_within_a_section():
    doc = document_from_report("r", REPORT, modality="CT")
    chunks = split(doc, 12)
    assert [token for chunk in chunks for token in chunk.doc.tokens] == doc.tokens  # every token, once, in order
    assert all(chunk.words <= 12 for chunk in chunks) and not any(chunk.split_in_sentence for chunk in chunks)
    # a decimal point ends no sentence, nor does a list number's dot; sections are never crossed
    assert [(chunk.section, report_text(chunk.doc)) for chunk in chunks] == [
        ("examination", "EXAMINATION: CT chest."),
        ("findings", "FINDINGS: A 1.8 cm nodule in the right upper lobe."),
        ("findings", "No effusion. The heart is normal in size. Mild emphysema."),
        ("findings", "1. Stable nodule.\n2. No new effusion."),
        ("impression", "IMPRESSION: Stable 1.8 cm right upper lobe nodule.")]
    small = [report_text(chunk.doc) for chunk in split(doc, 6)]
    assert "2. No new effusion." in small and not any(text.endswith(("1.", "1")) for text in small)
    # offsets into the chunk's own text give back each token
    for chunk in chunks:
        for token, (start, end) in zip(chunk.doc.tokens, chunk.doc.token_offsets):
            assert chunk.doc.source_text[start:end] == token
        assert chunk.doc.meta["chunk_of"] == "r" and chunk.doc.modality == "CT"


def test_a_sentence_longer_than_the_budget_is_cut_at_word_boundaries():
    doc = document_from_report("r", "FINDINGS: " + " ".join(f"word{i}" for i in range(50)) + ".")
    chunks = split(doc, 12)
    assert [token for chunk in chunks for token in chunk.doc.tokens] == doc.tokens
    assert all(chunk.words <= 12 for chunk in chunks)
    assert sum(chunk.split_in_sentence for chunk in chunks) == len(chunks) - 1


def test_a_header_without_body_is_an_empty_chunk():
    doc = document_from_report("r", "COMPARISON:\nFINDINGS: " + "Small left effusion. " * 8 + "\nIMPRESSION:")
    chunks = split(doc, 10)
    assert chunks[0].empty and chunks[0].section == "comparison" and chunks[-1].empty
    assert not any(chunk.empty for chunk in chunks[1:-1])


def test_gold_in_chunks_merges_back_to_the_gold():
    for words in (8, 20, 40):
        merged, lost, total = [], 0, 0
        for doc in GOLD:
            chunks = split(doc, words)
            pieces, cut = chunk_gold(doc, chunks)
            merged.append(merge_chunks(doc, list(zip(chunks, pieces))))
            lost, total = lost + cut, total + len(doc.relations)
        scores = evaluate(GOLD, merged, samples=0)
        # an entity is lost only where a sentence longer than the budget is cut through it
        assert scores["entity_f1"] == 1.0 if words > 8 else scores["entity_f1"] > 0.99
        kept = sum(len(doc.relations) for doc in merged)
        assert kept == total - lost and scores["relation_precision"] == 1.0
        assert scores["relation_recall"] == pytest.approx(kept / total)


class OracleBackend:
    """Answers every chunk with its gold graph (found by the chunk's text at the end of the prompt) and records
    how many prompts each call held."""

    name, model = "oracle", "none"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers, self.calls = answers, []

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        self.calls.append(len(requests))
        out = []
        for request in requests:
            prompt = request.messages[-1]["content"]
            text = max((text for text in self.answers if prompt.endswith(text)), key=len, default=None)
            out.append(Generation(self.answers[text] if text else "not json", 10, 10))
        return out

    def describe(self) -> dict[str, str]:
        return {"backend": self.name}

    def close(self) -> None:
        pass


def _answers(docs, words):
    answers = {}
    for doc in docs:
        chunks = split(doc, words)
        for chunk, piece in zip(chunks, chunk_gold(doc, chunks)[0]):
            answers[report_text(piece)] = example_output(piece)
    return answers


def test_extraction_in_chunks_generates_all_chunks_of_a_batch_together():
    docs = GOLD[:6]
    backend = OracleBackend(_answers(docs, 20))
    extractor = Extractor(ExtractionConfig(shots=0, chunk_words=20, batch_size=6), backend=backend)
    run = extractor.run(docs)
    assert not run.errors and len(run) == 6
    assert backend.calls == [run.counts["chunks"] - run.counts["chunks_skipped_empty"]] and backend.calls[0] > 6
    scores = evaluate(docs, run.documents, samples=0)
    assert scores["entity_f1"] == 1.0 and scores["relation_precision"] == 1.0
    manifest = extractor.manifest(run)
    assert manifest["chunk_words"] == 20
    assert manifest["counts"]["reports_chunked"] == sum(_words(doc.tokens) > 20 for doc in docs) > 0
    assert manifest["counts"]["chunk_words"] == sum(_words(doc.tokens) for doc in docs)


def test_a_failed_chunk_fails_its_report_and_names_the_chunk():
    docs = GOLD[:3]
    answers = _answers(docs, 20)
    broken = next(text for text in answers if text in report_text(docs[1]))
    answers[broken] = '{"entities": ['
    extractor = Extractor(ExtractionConfig(shots=0, chunk_words=20), backend=OracleBackend(answers))
    run = extractor.run(docs)
    assert [doc.id for doc in run] == [docs[0].id, docs[2].id]
    assert run.errors[docs[1].id].startswith("chunk 1 of ") and "not valid JSON" in run.errors[docs[1].id]


def test_exemplars_of_a_chunked_run_are_chunks_of_other_reports():
    backend = OracleBackend({})
    extractor = Extractor(ExtractionConfig(shots=2, chunk_words=20), GOLD, backend=backend)
    assert all(_words(doc.tokens) <= 20 for doc in extractor.examples) and len(extractor.examples) > len(GOLD)
    chunk = split(GOLD[13], 20)[2].doc
    chosen = extractor.exemplars_for(chunk)
    assert len(chosen) == 2 and all(doc.meta.get("chunk_of", doc.id) != GOLD[13].id for doc in chosen)
    prompt = extractor.request_for(chunk).messages[-1]["content"]
    assert "an excerpt of the FINDINGS section" in prompt


def test_the_default_budget_follows_max_tokens():
    assert ExtractionConfig().chunk_budget() == default_chunk_words(1024) == 30
    assert ExtractionConfig(decoding={"max_tokens": 4096}).chunk_budget() == 30  # short chunks also help quality
    assert ExtractionConfig(decoding={"max_tokens": 300}).chunk_budget() == 18  # what a graph fits
    assert ExtractionConfig(decoding={"max_tokens": 32}).chunk_budget() == 16
    assert ExtractionConfig(chunk_words=0).chunk_budget() == 0


def test_a_huge_report_is_refused_or_chunked_when_the_limit_is_raised():
    sentence = "There is a small left pleural effusion with adjacent atelectasis. "
    doc = document_from_report("huge", "FINDINGS: " + sentence * 2000)  # 20,000 words
    backend = OracleBackend({})
    run = Extractor(ExtractionConfig(shots=0), backend=backend).run([doc])
    assert "report too long" in run.errors["huge"] and backend.calls == []
    run = Extractor(ExtractionConfig(shots=0, max_report_words=30_000), backend=backend).run([doc])
    assert run.counts["chunks"] > 300 and "chunk 1 of" in run.errors["huge"]  # the oracle knows no answer


def test_oracle_long_reports_fit_the_default_budget_chunk_by_chunk(tokenizer):
    """Every long gold report written in the output format chunk by chunk fits the default budget (max_tokens
    1024) with the embedded model's tokenizer, and merges back to entity F1 1.0, relation F1 >= 0.97."""
    docs = read_radgraph(LONG_GOLD)
    words = ExtractionConfig().chunk_budget()
    merged, lost = [], 0
    for doc in docs:
        chunks = split(doc, words)
        assert len(chunks) > 3, doc.id
        pieces, cut = chunk_gold(doc, chunks)
        lost += cut
        for piece in pieces:
            tokens = len(tokenizer(example_output(piece))["input_ids"])
            assert tokens <= 1024, (piece.id, tokens)
        merged.append(merge_chunks(doc, list(zip(chunks, pieces))))
    scores = evaluate(docs, merged, samples=0)
    assert scores["entity_f1"] == 1.0 and scores["relation_f1"] >= 0.97, (scores["relation_f1"], lost)
    assert json.loads(json.dumps(lost)) == sum(map(len, (d.relations for d in docs))) - sum(
        len(d.relations) for d in merged)
