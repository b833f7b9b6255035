"""The tokenizer equals radgraph's RadGraph-XL preprocessing and keeps offsets into the report."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st
from radgraph_reference import xl_preprocess

from llmgraph.core.document import document_from_report
from llmgraph.core.tokenize import radgraph_text, tokenize

TRICKY = [
    "Small left pleural effusion.",
    "No pneumothorax (5%).",
    "ET tube 2.5 cm above the carina).",
    "Size 3%, previously 4%) and 'stable.'",
    "FINDINGS:\\nLines\\fin place\\u2122. He said \\\"no\\\".",
    "multi\n\nline\treport   with\r\nCRLF",
    "T2-weighted/FLAIR hyperintensity; no midline shift...",
    "Impression:1.Cardiomegaly.2.No edema",
    "naïve café résumé — 12×8 mm µg",
    "",
    "   ",
    "!!!",
    "_underscore_ word_1 a_b.c",
    "%).'),%,%).",
]

PIECES = list(string.ascii_letters + string.digits + string.punctuation + " \n\t\r") + [
    "\\n", "\\f", "\\u2122", '\\"', "é", "µ", "—", "\u00a0", "٣", "_", "%.", ").", ".'"]
report_text = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


def _assert_offsets(text: str) -> None:
    rewritten = text.replace('\\"', "``")  # the only rewrite that changes characters
    for token in tokenize(text):
        assert rewritten[token.start:token.end] == token.text
        assert text[token.start:token.end] == token.text or '\\"' in text


def test_tricky_reports_match_radgraph():
    reference = xl_preprocess()
    for text in TRICKY:
        assert radgraph_text(text) == reference(text), text
        _assert_offsets(text)


@settings(max_examples=600, deadline=None)
@given(report_text)
def test_random_reports_match_radgraph(text):
    assert radgraph_text(text) == xl_preprocess()(text)
    _assert_offsets(text)


def test_token_offsets_point_into_the_original_report():
    report = "FINDINGS: Small left effusion.\nIMPRESSION: Mild edema (10%)."
    doc = document_from_report("r1", report)
    assert doc.text == "FINDINGS : Small left effusion . IMPRESSION : Mild edema ( 10 % ) ."
    assert [report[start:end] for start, end in doc.token_offsets] == doc.tokens


def test_spans_restrict_tokens_but_offsets_index_the_whole_report():
    report = "INDICATION: cough.\nFINDINGS: Small effusion.\nIMPRESSION: Effusion."
    findings = report.index("Small")
    impression = report.index("Effusion.")
    doc = document_from_report("r1", report, spans=[(findings, report.index("\nIMPRESSION")), (impression, len(report))])
    assert doc.tokens == ["Small", "effusion", ".", "Effusion", "."]
    assert doc.token_offsets[0] == (findings, findings + 5)
    assert [report[s:e] for s, e in doc.token_offsets] == doc.tokens
    assert doc.source_text == report
