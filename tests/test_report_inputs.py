"""Plain reports in: .txt, .csv, .jsonl, with sections from headers or columns."""

from __future__ import annotations

import json
import subprocess
import sys

from llmgraph.formats import read_radgraph
from llmgraph.inputs import load_documents
from llmgraph.reports import ReportOptions, find_sections, read_reports

MIMIC_STYLE = """                                 FINAL REPORT
EXAMINATION:  CHEST (PA AND LAT)

INDICATION:  Cough and fever.

COMPARISON:  None.

FINDINGS:
Small left pleural effusion. No pneumothorax.

IMPRESSION:
Left effusion, possibly infected (10%).
"""


def test_txt_one_per_line_and_blank_line_separated(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("No effusion.\n\nsmall pneumothorax.\n".replace("\n\n", "\n"))
    assert [d.text for d in read_reports(lines)] == ["No effusion .", "small pneumothorax ."]
    blocks = tmp_path / "blocks.txt"
    blocks.write_text("FINDINGS: Clear lungs.\nIMPRESSION: Normal.\n\n  \nNo effusion.\n")
    docs = read_reports(blocks, ReportOptions(modality="CXR"))
    assert [d.id for d in docs] == ["1", "2"] and docs[0].modality == "CXR"
    assert docs[0].text == "FINDINGS : Clear lungs . IMPRESSION : Normal ."


def test_csv_and_jsonl_columns(tmp_path):
    csv = tmp_path / "r.csv"
    csv.write_text('study_id,body,modality\ns9,"Mild edema.",CT\ns7,"No edema.",MR\n')
    docs = read_reports(csv, ReportOptions(text_column="body"))
    assert [(d.id, d.text, d.modality) for d in docs] == [("s9", "Mild edema .", "CT"), ("s7", "No edema .", "MR")]
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text(json.dumps({"report_id": "a", "text": "Tiny nodule."}) + "\n")
    assert [(d.id, d.text) for d in load_documents(jsonl)] == [("a", "Tiny nodule .")]


def test_sections_from_headers_keep_offsets_into_the_original(tmp_path):
    sections = find_sections(MIMIC_STYLE)
    assert list(sections) == ["examination", "indication", "comparison", "findings", "impression"]
    path = tmp_path / "mimic.jsonl"
    path.write_text(json.dumps({"id": "s1", "report": MIMIC_STYLE}) + "\n")
    doc, = read_reports(path, ReportOptions(sections=("findings", "impression")))
    assert doc.text == ("Small left pleural effusion . No pneumothorax . "
                        "Left effusion , possibly infected ( 10 % ) .")
    assert doc.source_text == MIMIC_STYLE
    assert [MIMIC_STYLE[s:e] for s, e in doc.token_offsets] == doc.tokens
    assert MIMIC_STYLE[doc.token_offsets[0][0]:].startswith("Small left")


def test_sections_as_columns(tmp_path):
    path = tmp_path / "rex.csv"
    path.write_text("id,indication,comparison,findings,impression\n"
                    'r1,Cough.,None.,"Clear lungs.","No acute process."\n'
                    'r2,Fever.,None.,,"Normal chest."\n')
    first, second = read_reports(path, ReportOptions(sections=("findings", "impression")))
    assert first.text == "Clear lungs . No acute process ."
    assert first.source_text == "FINDINGS:\nClear lungs.\n\nIMPRESSION:\nNo acute process."
    assert [first.source_text[s:e] for s, e in first.token_offsets] == first.tokens
    assert second.text == "Normal chest ." and list(second.meta["sections"]) == ["impression"]


def test_report_without_chosen_sections_is_flagged_not_fatal(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("INDICATION: Cough. FINDINGS: Clear.\n")
    no_impression, = read_reports(path, ReportOptions(sections=("impression",)))
    assert no_impression.text == "" and "no impression section" in no_impression.meta["problem"]
    assert "found: indication" in no_impression.meta["problem"]


def test_dispatch_between_radgraph_json_and_plain_jsonl(tmp_path):
    annotated = tmp_path / "a.jsonl"
    annotated.write_text(json.dumps({"id": "x", "text": "no effusion", "entities": {}}) + "\n")
    plain = tmp_path / "p.jsonl"
    plain.write_text(json.dumps({"id": "x", "report": "No effusion."}) + "\n")
    assert load_documents(annotated)[0].source_text is None
    assert load_documents(plain)[0].source_text == "No effusion."


def test_convert_command_writes_valid_radgraph_json(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text('id,report\n1,"Small effusion (5%)."\n')
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "llmgraph", "convert", str(path), "-o", str(out), "--modality", "CXR"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    doc, = read_radgraph(out)
    assert doc.text == "Small effusion ( 5 % ) ." and doc.modality == "CXR" and doc.entities == []
