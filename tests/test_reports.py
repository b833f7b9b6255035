"""Plain reports in (.txt, .csv, .jsonl), sections from headers or columns, and dispatch of inputs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from jsonschema import Draft202012Validator

from llmgraph.core.document import Document
from llmgraph.io.inputs import is_radgraph_file, load_documents
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.reports import ReportOptions, find_sections, read_reports
from llmgraph.io.validation import check_document, load_schema

MIMIC = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)
 
 INDICATION:  ___ year old woman with cough  // ? pneumonia
 
 TECHNIQUE:  Chest PA and lateral
 
 COMPARISON:  ___
 
 FINDINGS: 
 
 PA and lateral views of the chest provided.  There is no focal consolidation,
 effusion, or pneumothorax.  The cardiomediastinal silhouette is normal.  Imaged
 osseous structures are intact.  Heart size 1.2 cm (5%).
 
 IMPRESSION: 
 
 No acute intrathoracic process.
"""
FINDINGS_TOKENS = ("PA and lateral views of the chest provided . There is no focal consolidation , effusion , or "
                   "pneumothorax . The cardiomediastinal silhouette is normal . Imaged osseous structures are intact . "
                   "Heart size 1 . 2 cm ( 5 % ) .")
IMPRESSION_TOKENS = "No acute intrathoracic process ."


def assert_tokens_point_at_their_characters(doc: Document) -> None:
    """Every token's offsets select exactly its characters in the original report."""
    assert doc.source_text is not None and len(doc.token_offsets) == len(doc.tokens)
    assert [doc.source_text[start:end] for start, end in doc.token_offsets] == doc.tokens
    if doc.tokens:
        check_document(doc)


# --- .txt --------------------------------------------------------------------------------------

def test_txt_one_report_per_line(tmp_path):
    path = tmp_path / "reports.txt"
    path.write_text("No acute process.\nSmall left effusion (5%).\nStable 2.3-cm nodule.\n", encoding="utf-8")
    docs = read_reports(path)
    assert [(doc.id, doc.text) for doc in docs] == [
        ("1", "No acute process ."), ("2", "Small left effusion ( 5 % ) ."), ("3", "Stable 2 . 3 - cm nodule .")]
    assert [doc.source_text for doc in docs] == [
        "No acute process.", "Small left effusion (5%).", "Stable 2.3-cm nodule."]
    assert all(doc.entities == [] and doc.modality is None for doc in docs)
    for doc in docs:
        assert_tokens_point_at_their_characters(doc)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_txt_blank_line_separated_reports(tmp_path, newline):
    reports = ["FINDINGS: Clear lungs.\nIMPRESSION: Normal.", "Mild edema.\nNo effusion.", "Cardiomegaly."]
    text = "\n\n \t\n".join(reports) + "\n\n"
    path = tmp_path / "blocks.txt"
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    docs = read_reports(path, ReportOptions(modality="CXR"))
    assert [doc.id for doc in docs] == ["1", "2", "3"]
    assert [doc.text for doc in docs] == [
        "FINDINGS : Clear lungs . IMPRESSION : Normal .", "Mild edema . No effusion .", "Cardiomegaly ."]
    assert [doc.source_text for doc in docs] == [report.replace("\n", newline) for report in reports]
    assert all(doc.modality == "CXR" for doc in docs)
    for doc in docs:
        assert_tokens_point_at_their_characters(doc)


def test_txt_sections_from_headers(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("INDICATION: Cough. FINDINGS: Clear.\nFINDINGS: Small effusion.\nIMPRESSION: Effusion.\n",
                    encoding="utf-8")
    docs = read_reports(path, ReportOptions(sections=("findings",)))
    assert [doc.text for doc in docs] == ["", "Small effusion .", ""]
    assert "problem" in docs[0].meta and "problem" in docs[2].meta and "problem" not in docs[1].meta


# --- .csv --------------------------------------------------------------------------------------

def test_csv_with_id_text_and_modality_columns(tmp_path):
    path = tmp_path / "reports.csv"
    path.write_text('report_id,modality,text\n'
                    'a7,CXR,"Small effusion, no pneumothorax."\n'
                    'a9,CT,"Multiline\nreport: ""quoted"" word."\n'
                    'a3,,No change.\n', encoding="utf-8")
    docs = read_reports(path)
    assert [(doc.id, doc.modality) for doc in docs] == [("a7", "CXR"), ("a9", "CT"), ("a3", None)]
    assert docs[0].text == "Small effusion , no pneumothorax ."
    assert docs[1].source_text == 'Multiline\nreport: "quoted" word.'
    assert docs[1].text == 'Multiline report : " quoted " word .'
    for doc in docs:
        assert_tokens_point_at_their_characters(doc)
    # --modality overrides the column.
    assert {doc.modality for doc in read_reports(path, ReportOptions(modality="MR"))} == {"MR"}


def test_csv_with_chosen_text_and_id_columns(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("\ufeffAccession,Body,report\nX1,Mild edema.,ignored\nX2,No edema.,ignored\n", encoding="utf-8")
    docs = read_reports(path, ReportOptions(text_column="Body", id_column="Accession"))
    assert [(doc.id, doc.text) for doc in docs] == [("X1", "Mild edema ."), ("X2", "No edema .")]
    # Without options: the known column names win, and ids are row numbers.
    assert [(doc.id, doc.text) for doc in read_reports(path)] == [("1", "ignored"), ("2", "ignored")]


def test_csv_values_stay_strings(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("study_id,report\n007,NA\n1e3,nan\n", encoding="utf-8")
    docs = read_reports(path)
    assert [(doc.id, doc.text) for doc in docs] == [("007", "NA"), ("1e3", "nan")]  # strings stay strings


# --- .jsonl ------------------------------------------------------------------------------------

def test_jsonl_with_a_text_field(tmp_path):
    path = tmp_path / "reports.jsonl"
    rows = [{"id": "s1", "text": "Tiny nodule.\u2028Stable.", "modality": None},
            {"id": 2, "text": "Right \\\"pleural\\\" effusion.", "modality": "CXR", "site": "B"}]
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n\n", encoding="utf-8")
    docs = read_reports(path)
    assert [(doc.id, doc.modality) for doc in docs] == [("s1", None), ("2", "CXR")]
    assert docs[0].text == "Tiny nodule . Stable ."
    assert docs[1].tokens == ["Right", "``", "pleural", "``", "effusion", "."]  # the radgraph escape rewrite
    offsets = docs[1].token_offsets
    assert docs[1].source_text[offsets[1][0]:offsets[1][1]] == '\\"'
    assert_tokens_point_at_their_characters(docs[0])
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"key": "k", "body": "No effusion."}) + "\n", encoding="utf-8")
    doc, = read_reports(other, ReportOptions(text_column="body", id_column="key"))
    assert (doc.id, doc.text) == ("k", "No effusion .")


# --- sections ----------------------------------------------------------------------------------

def test_mimic_sections_from_headers(tmp_path):
    assert list(find_sections(MIMIC)) == ["examination", "indication", "technique", "comparison", "findings",
                                          "impression"]
    path = tmp_path / "mimic.jsonl"
    path.write_text(json.dumps({"id": "s50414267", "report": MIMIC}) + "\n", encoding="utf-8")
    doc, = read_reports(path, ReportOptions(sections=("findings", "impression")))
    assert doc.text == f"{FINDINGS_TOKENS} {IMPRESSION_TOKENS}"
    assert doc.source_text == MIMIC
    assert_tokens_point_at_their_characters(doc)
    spans = doc.meta["sections"]
    assert list(spans) == ["findings", "impression"]
    assert MIMIC[spans["findings"][0]:spans["findings"][1]].split() == (
        "PA and lateral views of the chest provided.  There is no focal consolidation, effusion, or pneumothorax.  "
        "The cardiomediastinal silhouette is normal.  Imaged osseous structures are intact.  Heart size 1.2 cm (5%)."
    ).split()
    for start, end in doc.token_offsets:
        assert any(low <= start and end <= high for low, high in spans.values())
    for outside in ("EXAMINATION", "INDICATION", "cough", "TECHNIQUE", "COMPARISON", "FINDINGS", "IMPRESSION", "___"):
        assert outside not in doc.tokens
    # Offsets point at the body, not at a header word of the same spelling.
    first_start = doc.token_offsets[0][0]
    assert MIMIC[first_start:].startswith("PA and lateral views") and first_start > MIMIC.index("FINDINGS:")
    # The order of the chosen names does not matter: tokens stay in report order.
    again, = read_reports(path, ReportOptions(sections=("impression", "findings")))
    assert again.text == doc.text and again.token_offsets == doc.token_offsets
    only, = read_reports(path, ReportOptions(sections=("impression",)))
    assert only.text == IMPRESSION_TOKENS
    assert_tokens_point_at_their_characters(only)


def test_mimic_sections_from_a_csv_text_column(tmp_path):
    path = tmp_path / "mimic.csv"
    path.write_text('study_id,text\ns1,"' + MIMIC.replace('"', '""') + '"\n', encoding="utf-8")
    doc, = read_reports(path, ReportOptions(sections=("findings", "impression")))
    assert doc.text == f"{FINDINGS_TOKENS} {IMPRESSION_TOKENS}" and doc.source_text == MIMIC
    assert_tokens_point_at_their_characters(doc)


REXGRADIENT = ('id,indication,comparison,findings,impression\n'
               'r1,Cough.,None.,"Heart size normal.\nLUNGS: Clear, no effusion.","No acute process."\n'
               'r2,Fever.,1/1/2020,,"FINDINGS: stable (5%)."\n'
               'r3,Pain.,None.,,\n')


def test_sections_as_columns(tmp_path):
    path = tmp_path / "rex.csv"
    path.write_text(REXGRADIENT, encoding="utf-8")
    first, second, third = read_reports(path, ReportOptions(sections=("findings", "impression"), modality="CXR"))
    # A header-like line inside a column ("LUNGS:") stays part of that column's section.
    assert first.text == "Heart size normal . LUNGS : Clear , no effusion . No acute process ."
    assert first.source_text == ("FINDINGS:\nHeart size normal.\nLUNGS: Clear, no effusion."
                                 "\n\nIMPRESSION:\nNo acute process.")
    assert list(first.meta["sections"]) == ["findings", "impression"] and first.modality == "CXR"
    assert_tokens_point_at_their_characters(first)
    assert "Cough" not in first.tokens and "None" not in first.tokens
    # An empty findings cell: only the impression, even when its text starts with a header word.
    assert second.text == "FINDINGS : stable ( 5 % ) ."
    assert list(second.meta["sections"]) == ["impression"]
    assert_tokens_point_at_their_characters(second)
    # Neither column filled: empty text and a problem note, not a failure.
    assert third.text == "" and third.token_offsets == []
    assert "no findings or impression section" in third.meta["problem"]
    only_indication, = read_reports(path, ReportOptions(sections=("indication",)))[:1]
    assert only_indication.text == "Cough ."


def test_a_report_without_the_chosen_sections(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"id": "a", "report": "INDICATION: Cough.\nCOMPARISON: None.\nNo change."}) + "\n"
                    + json.dumps({"id": "b", "report": "No headers at all."}) + "\n", encoding="utf-8")
    first, second = read_reports(path, ReportOptions(sections=("findings", "impression")))
    for doc in (first, second):
        assert doc.text == "" and doc.tokens == [] and doc.token_offsets == []
        assert doc.meta["problem"].startswith("no findings or impression section")
        assert doc.source_text is not None and "sections" not in doc.meta
    assert "found: indication, comparison" in first.meta["problem"]
    assert "found: none" in second.meta["problem"]


# --- dispatch ----------------------------------------------------------------------------------

def test_load_documents_dispatches_on_content(tmp_path):
    annotated = tmp_path / "annotated.jsonl"
    annotated.write_text(json.dumps({"id": "x", "text": "no effusion", "entities": {
        "1": {"tokens": "effusion", "label": "OBS-DA", "start_ix": 1, "end_ix": 1, "relations": []}}}) + "\n",
                         encoding="utf-8")
    test_lines = tmp_path / "test.jsonl"
    test_lines.write_text("\n" + json.dumps({"id": "y", "text": "no effusion", "labeler_1": {"entities": {}},
                                             "labeler_2": {"entities": {}}}) + "\n", encoding="utf-8")
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps({"id": "x", "text": "No effusion."}) + "\n", encoding="utf-8")
    collection = tmp_path / "gold.json"
    collection.write_text(json.dumps({"x": {"text": "No effusion .", "entities": {}}}), encoding="utf-8")
    txt = tmp_path / "r.txt"
    txt.write_text("No effusion.\n", encoding="utf-8")
    assert [is_radgraph_file(path) for path in (annotated, test_lines, plain, collection, txt)] == [
        True, True, False, True, False]
    from_annotated, = load_documents(annotated)
    assert from_annotated.entities[0].label == "OBS-DA" and from_annotated.source_text is None
    assert [doc.annotator for doc in load_documents(test_lines, "both")] == ["labeler_1", "labeler_2"]
    from_plain, = load_documents(plain)
    assert from_plain.entities == [] and from_plain.source_text == "No effusion." and from_plain.text == "No effusion ."
    assert load_documents(collection)[0].text == "No effusion ." and load_documents(collection)[0].source_text is None
    assert load_documents(txt)[0].text == "No effusion ."
    assert load_documents(plain, report_options=ReportOptions(modality="US"))[0].modality == "US"


# --- the convert command -----------------------------------------------------------------------

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmgraph", *args], capture_output=True, text=True, timeout=120)


def test_convert_writes_valid_radgraph_json_from_csv(tmp_path):
    source = tmp_path / "reports.csv"
    source.write_text('Accession,Body\nA1,"Small left effusion (5%)."\nA2,"FINDINGS: Clear.\nIMPRESSION: Normal."\n',
                      encoding="utf-8")
    out = tmp_path / "out" / "reports.json"
    done = run_cli("convert", str(source), "-o", str(out), "--text-column", "Body", "--id-column", "Accession",
                   "--modality", "CXR")
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"wrote 2 documents to {out}\n"
    written = json.loads(out.read_text(encoding="utf-8"))
    Draft202012Validator(load_schema("radgraph.schema.json")).validate(written)
    assert list(written) == ["A1", "A2"]
    assert written["A1"]["text"] == "Small left effusion ( 5 % ) ." and written["A1"]["entities"] == {}
    assert written["A1"]["source_text"] == "Small left effusion (5%)." and written["A1"]["modality"] == "CXR"
    docs = read_radgraph(out)
    assert docs == read_reports(source, ReportOptions(text_column="Body", id_column="Accession", modality="CXR"))
    for doc in docs:
        assert_tokens_point_at_their_characters(doc)
    # With --sections, and to JSONL.
    lines = tmp_path / "reports.jsonl"
    source.write_text('id,report\n1,"FINDINGS: Clear.\nIMPRESSION: Normal."\n', encoding="utf-8")
    done = run_cli("convert", str(source), "-o", str(lines), "--sections", "findings, Impression")
    assert done.returncode == 0, done.stderr
    doc, = read_radgraph(lines)
    assert doc.text == "Clear . Normal ." and doc.meta["sections"] and doc.source_text.startswith("FINDINGS:")
