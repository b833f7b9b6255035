"""The report viewer (`llmgraph viz`) in a real browser: headless Chromium drives the page, clicks
through the reports and checks the DOM against `llmgraph.evaluation.diff.document_diff` computed here."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmgraph.cli.app import app
from llmgraph.core.document import Document, Entity, Relation, document_from_report
from llmgraph.core.labels import LabelSet
from llmgraph.core.resources import sample_gold_path
from llmgraph.evaluation.diff import document_diff
from llmgraph.evaluation.items import document_items
from llmgraph.evaluation.taxonomy import ERRORS, ErrorIndex
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from llmgraph.io.synth import synth_documents
from llmgraph.viz import build_payload, write_viewer
from llmgraph.viz.viewer import STATUSES

try:  # the browser tests (marked ``browser``, by their ``page`` fixture) need playwright; the others do not
    from playwright.sync_api import expect, sync_playwright
except ImportError:
    expect = sync_playwright = None

CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")
# Playwright starts Chromium headless with a fresh temporary profile (its own --user-data-dir).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
RELABEL = {"OBS-DP": "OBS-U", "OBS-U": "OBS-DA", "OBS-DA": "OBS-DP", "ANAT-DP": "OBS-DP"}
RETYPE = {"modify": "located_at", "located_at": "suggestive_of", "suggestive_of": "modify"}
NASTY = "<script>alert(1)</script> & é 肺 <img src=x onerror=alert(2)> &amp; \"quoted\" 'single'"

GOLD = read_radgraph(sample_gold_path())


def perturbed(doc: Document, seed: int) -> Document:
    """A prediction with every kind of error: missing, relabeled and spurious entities, a relation of
    the wrong type and a spurious relation."""
    entities = [replace(e, label=RELABEL[e.label]) if (k + seed) % 5 == 0 else e
                for k, e in enumerate(doc.entities) if (k + seed) % 4 != 1]
    kept = {e.id for e in entities}
    relations = [replace(r, type=RETYPE[r.type]) if k == 0 else r
                 for k, r in enumerate(doc.relations) if r.source in kept and r.target in kept]
    covered = {i for e in doc.entities for i in range(e.start_ix, e.end_ix + 1)}
    free = next((i for i in range(len(doc.tokens)) if i not in covered), None)
    if free is not None and entities:
        entities.append(Entity("x1", doc.tokens[free], "OBS-DP", free, free))
        relations.append(Relation("modify", "x1", entities[0].id))
    return replace(doc, entities=entities, relations=relations)


PRED = [doc if k % 3 == 2 else perturbed(doc, k) for k, doc in enumerate(GOLD[:-2])] + [replace(next(synth_documents(1)), id="pred-only")]
MATCHED = GOLD[:-2]


@pytest.fixture(scope="module")
def browser():
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install 'llmgraph[test]')")
    if not CHROMIUM.exists():
        pytest.fail(f"the viewer tests need {CHROMIUM} (make test installs it: apt-get install chromium)")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.on("request", lambda request: None if request.url.startswith(("file:", "data:", "about:"))
            else problems.append(f"network: {request.url}"))
    yield page
    context.close()
    assert not problems


@pytest.fixture(scope="module")
def sample_viewer(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("viz")
    write_radgraph(PRED, folder / "pred.json")
    output = folder / "sample.html"
    done = CliRunner().invoke(app, ["viz", str(folder / "pred.json"), "--gold", str(sample_gold_path()),
                                    "-o", str(output)])
    assert done.exit_code == 0, done.output
    assert "1 predicted reports have no gold, 2 gold reports have no prediction" in done.stderr
    return output


SNAPSHOT = """() => {
  const marks = {};
  for (const node of document.querySelectorAll("#text .ent")) {
    const entry = marks[node.dataset.i] ||= {text: "", label: node.dataset.label, classes: node.className, title: node.title};
    entry.text += node.textContent;
  }
  return {
    id: document.querySelector(".report-head h2").textContent,
    position: document.getElementById("position").textContent,
    marks: Object.values(marks),
    relations: [...document.querySelectorAll("li.rel")].map((item) => item.className),
    counts: Object.fromEntries([...document.querySelectorAll("[data-count]")].map((c) => [c.dataset.count, +c.textContent])),
  };
}"""


def source_slice(doc: Document, start: int, end: int) -> str:
    """Tokens ``start..end`` as the viewer shows them: from the original report when there is one."""
    if doc.source_text is None:
        return " ".join(doc.tokens[start:end + 1])
    return doc.source_text[doc.token_offsets[start][0]:doc.token_offsets[end][1]]


def mark_errors(gold: Document, pred: Document) -> Counter:
    """The (kind, error class) of every mark the viewer should give one, from the taxonomy: each false
    positive's (a predicted item not in gold), and the false negative's of each gold item shown as
    missing by document_diff (a mislabeled entity or relation is one mark: the prediction's)."""
    gold_items, pred_items = document_items(gold), document_items(pred)
    diff = document_diff(gold, pred)
    missing = {(row["start_ix"], row["end_ix"]) for row in diff["entities"]["missing"]}
    lost = {(tuple(row["source_ix"]), tuple(row["target_ix"]), row["type"]) for row in diff["relations"]["missing"]}
    against_gold, against_pred = ErrorIndex(gold_items), ErrorIndex(pred_items)
    errors = Counter(("entity", against_gold.entity_error(item, "spurious"))
                     for item in pred_items.entities - gold_items.entities)
    errors.update(("entity", against_pred.entity_error(item, "missed"))
                  for item in gold_items.entities if item[:2] in missing)
    errors.update(("relation", against_gold.relation_error(relation, False))
                  for relation in pred_items.relations - gold_items.relations)
    errors.update(("relation", against_pred.relation_error(relation, True))
                  for relation in gold_items.relations if (relation[0][:2], relation[1][:2], relation[2]) in lost)
    return errors


def css_class(error: str) -> str:
    """The CSS class the viewer draws an error class with."""
    return "x-" + error.replace(" ", "-")


def check_report(shown: dict, gold: Document, pred: Document) -> None:
    """The DOM of one report against document_diff and the taxonomy: marks, their labels, texts and error
    classes, relation items, counts."""
    diff = document_diff(gold, pred)
    statuses = {"correct": diff["correct"]["entities"], "missing": len(diff["entities"]["missing"]),
                "spurious": len(diff["entities"]["spurious"]), "wrong": len(diff["entities"]["mislabeled"])}
    relations = {"correct": diff["correct"]["relations"], "missing": len(diff["relations"]["missing"]),
                 "spurious": len(diff["relations"]["spurious"]), "wrong": len(diff["relations"]["mislabeled"])}
    for status, count in statuses.items():
        assert sum(status in mark["classes"].split() for mark in shown["marks"]) == count, (gold.id, status)
        assert shown["counts"][f"entities-{status}"] == count
    for status, count in relations.items():
        assert sum(status in item.split() for item in shown["relations"]) == count, (gold.id, status)
        assert shown["counts"][f"relations-{status}"] == count
    predicted = {(source_slice(pred, e.start_ix, e.end_ix), e.label) for e in pred.entities}
    missing = {(source_slice(gold, row["start_ix"], row["end_ix"]), row["label"]) for row in diff["entities"]["missing"]}
    assert {(mark["text"], mark["label"]) for mark in shown["marks"]} == predicted | missing
    against_gold = ErrorIndex(document_items(gold))
    assert sorted(mark["title"] for mark in shown["marks"] if "wrong" in mark["classes"].split()) == sorted(
        f"gold: {row['gold_label']}, predicted: {row['label']}\nerror class: "
        + against_gold.entity_error((row["start_ix"], row["end_ix"], row["label"]), "spurious")
        for row in diff["entities"]["mislabeled"])
    drawn = Counter(("entity", word) for mark in shown["marks"] for word in mark["classes"].split()
                    if word.startswith("x-"))
    drawn.update(("relation", word) for item in shown["relations"] for word in item.split() if word.startswith("x-"))
    assert drawn == Counter({(kind, css_class(error)): n for (kind, error), n in mark_errors(gold, pred).items()})


def test_every_report_shows_exactly_the_diff(page, sample_viewer):
    page.goto(sample_viewer.as_uri())
    assert page.locator("#prev").is_disabled()
    for number, gold in enumerate(MATCHED, 1):
        shown = page.evaluate(SNAPSHOT)
        assert shown["id"] == gold.id
        assert shown["position"] == f"Report {number} of {len(MATCHED)}"
        check_report(shown, gold, PRED[number - 1])
        if number < len(MATCHED):
            page.click("#next") if number % 2 else page.keyboard.press("ArrowRight")
    assert page.locator("#next").is_disabled()
    page.keyboard.press("ArrowLeft")
    assert page.evaluate(SNAPSHOT)["id"] == MATCHED[-2].id


def test_unmatched_reports_are_counted_and_left_out(page, sample_viewer):
    page.goto(sample_viewer.as_uri())
    banner = page.locator("#banner")
    assert banner.is_visible()
    assert banner.inner_text().startswith("1 predicted report has no gold, 2 gold reports have no prediction.")
    assert "Shown: the 26 reports in both files." in banner.inner_text()
    page.click("#banner summary >> nth=1")
    assert ", ".join(doc.id for doc in GOLD[-2:]) in banner.inner_text()
    page.fill("#search", "pred-only")
    expect(page.locator("#position")).to_have_text("No report (of 26)")
    assert page.locator("#report").inner_text() == "No report matches these filters."


def test_filters_search_and_jump(page, sample_viewer):
    page.goto(sample_viewer.as_uri())
    pairs = list(zip(MATCHED, PRED))
    total = len(pairs)

    def position() -> str:
        return page.locator("#position").inner_text()

    with_uncertain = [g.id for g, p in pairs if any(e.label == "OBS-U" for e in g.entities + p.entities)]
    page.select_option("#label-filter", label=f"OBS-U ({len(with_uncertain)})")
    assert position() == f"Report 1 of {len(with_uncertain)} (filtered from {total})"
    page.click("#next")
    assert page.evaluate(SNAPSHOT)["id"] == with_uncertain[1]
    page.select_option("#label-filter", "")

    ct = [g.id for g, _ in pairs if g.modality == "CT"]
    page.select_option("#modality-filter", label=f"CT ({len(ct)})")
    assert position() == f"Report 1 of {len(ct)} (filtered from {total})"
    assert page.evaluate(SNAPSHOT)["id"] == ct[0]
    page.select_option("#modality-filter", "")

    with_errors = [g.id for g, p in pairs if any(document_diff(g, p)[kind][error] for kind in ("entities", "relations")
                                             for error in ("missing", "spurious", "mislabeled"))]
    assert 0 < len(with_errors) < total
    page.select_option("#status-filter", "errors")  # the report on screen stays when it passes the filter
    kept = with_errors.index(ct[0]) + 1 if ct[0] in with_errors else 1
    assert position() == f"Report {kept} of {len(with_errors)} (filtered from {total})"
    page.select_option("#status-filter", "")

    word = "pneumothorax"
    hits = [g.id for g, _ in pairs if word in (g.id + "\n" + g.source_text).lower()]
    page.fill("#search", word.upper())
    expect(page.locator("#position")).to_have_text(f"Report 1 of {len(hits)} (filtered from {total})")
    page.fill("#search", MATCHED[7].id)
    expect(page.locator("#position")).to_have_text(f"Report 1 of 1 (filtered from {total})")
    assert page.evaluate(SNAPSHOT)["id"] == MATCHED[7].id
    page.fill("#search", "")
    expect(page.locator("#position")).to_have_text(f"Report 8 of {total}")

    page.fill("#jump", "20")
    page.press("#jump", "Enter")
    assert page.evaluate(SNAPSHOT)["id"] == MATCHED[19].id


def test_error_classes_legend_and_filter(page, sample_viewer):
    page.goto(sample_viewer.as_uri())
    errors = [mark_errors(gold, pred) for gold, pred in zip(MATCHED, PRED)]
    total = sum(errors, Counter())
    legend = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll("#legend .errors [data-error]")]
                                                      .map((key) => [key.dataset.error, key.textContent]))""")
    assert legend == {f"{kind[0]}:{k}": f"{error} ({total[(kind, error)]})"
                      for kind, classes in ERRORS.items() for k, error in enumerate(classes)}
    assert {kind for kind, _ in total} == {"entity", "relation"}

    wanted = ("relation", "wrong relation type")
    hits = [k for k, found in enumerate(errors) if found[wanted]]
    assert 0 < len(hits) < len(MATCHED)
    page.select_option("#error-filter", label=f"wrong relation type ({len(hits)})")
    for number, k in enumerate(hits, 1):
        assert page.locator("#position").inner_text() == f"Report {number} of {len(hits)} (filtered from 26)"
        assert page.evaluate(SNAPSHOT)["id"] == MATCHED[k].id
        assert page.locator(f"li.rel.{css_class(wanted[1])}").count() == errors[k][wanted]
        if number < len(hits):
            page.click("#next")
    page.select_option("#error-filter", "")  # the report on screen stays
    assert page.locator("#position").inner_text() == f"Report {hits[-1] + 1} of {len(MATCHED)}"


def test_hovering_an_entity_lights_its_relations(page, sample_viewer):
    page.goto(sample_viewer.as_uri())
    payload = build_payload(PRED, GOLD)
    report = payload["reports"][0]
    busiest = max(range(len(report["e"])), key=lambda i: sum(i in row[:2] for row in report["r"]))
    related = [row for row in report["r"] if busiest in row[:2]]
    assert related
    page.hover(f"#text .ent[data-i='{busiest}']")
    assert page.locator("li.rel.hl").count() == len(related)
    assert page.locator("#text svg path.arc").count() == len(related)
    assert page.locator("#text .ent.self").count() >= 1
    page.hover("h1")
    assert page.locator("li.rel.hl").count() == 0
    assert page.locator("#text svg path.arc").count() == 0
    page.check("#all-arcs")
    assert page.locator("#text svg path.arc").count() == len(report["r"])


def test_special_characters_render_as_text(page, tmp_path):
    doc = document_from_report('r<b>1</b> & "x"', NASTY, modality="<i>CT</i>")
    tokens = doc.tokens
    doc.entities = [Entity("1", "肺", "ANAT-DP", tokens.index("肺"), tokens.index("肺")),
                    Entity("2", "script", "OBS-DP", tokens.index("script"), tokens.index("script"))]
    doc.relations = [Relation("located_at", "2", "1")]
    write_radgraph([doc], tmp_path / "nasty.jsonl")
    output = tmp_path / "nasty.html"
    done = CliRunner().invoke(app, ["viz", str(tmp_path / "nasty.jsonl"), "-o", str(output),
                                    "--title", "</title><script>alert(3)</script>"])
    assert done.exit_code == 0, done.output
    html = output.read_text(encoding="utf-8")
    assert "<script>alert" not in html and "<img src=x" not in html and html.count("</script>") == 2
    page.goto(output.as_uri())
    assert page.locator("#text").evaluate("node => node.textContent") == NASTY
    assert page.locator(".report-head h2").inner_text() == 'r<b>1</b> & "x"'
    assert page.locator("h1").inner_text() == "</title><script>alert(3)</script>"
    assert page.locator("#report script, #report img, #report i, #report b").count() == 0
    shown = page.evaluate(SNAPSHOT)
    assert [(mark["text"], mark["label"]) for mark in shown["marks"]] == [("script", "OBS-DP"), ("肺", "ANAT-DP")]
    assert "modality <i>CT</i>" in page.locator(".report-head").inner_text()


def test_overlapping_marks_nest_or_split(page, tmp_path):
    text = "right lower lobe pneumonia is seen"
    gold = Document("overlap", text, [Entity("1", "right lower lobe", "ANAT-DP", 0, 2),
                                      Entity("2", "pneumonia", "OBS-DP", 3, 3)], [Relation("located_at", "2", "1")])
    pred = replace(gold, entities=[Entity("1", "right", "ANAT-DP", 0, 0), Entity("2", "lower", "ANAT-DP", 1, 1),
                                   Entity("3", "lower lobe pneumonia", "OBS-DP", 1, 3)], relations=[])
    output = tmp_path / "overlap.html"
    write_viewer(output, [pred], [gold])
    page.goto(output.as_uri())
    shown = page.evaluate(SNAPSHOT)
    assert page.locator("#text").evaluate("node => node.textContent") == text
    assert sorted((mark["text"], mark["label"], mark["classes"].split()[1]) for mark in shown["marks"]) == [
        ("lower", "ANAT-DP", "spurious"), ("lower lobe pneumonia", "OBS-DP", "spurious"),
        ("pneumonia", "OBS-DP", "missing"), ("right", "ANAT-DP", "spurious"),
        ("right lower lobe", "ANAT-DP", "missing")]
    assert page.locator("#text .ent[data-i='2']").count() == 2  # crosses "right lower lobe": split at its end
    check_report(shown, gold, pred)


def test_thousands_of_reports_render_one_at_a_time(page, tmp_path):
    docs = list(synth_documents(3000, seed=5))
    output = tmp_path / "many.html"
    payload = write_viewer(output, docs)
    page.goto(output.as_uri())
    assert page.locator("#error-control").is_hidden() and page.locator("#legend .errors").count() == 0
    assert page.locator("#text .x").count() == 0
    assert page.locator(".ent").count() == len(payload["reports"][0]["e"])
    assert page.locator("#position").inner_text() == "Report 1 of 3000"
    page.fill("#jump", "3000")
    page.press("#jump", "Enter")
    assert page.evaluate(SNAPSHOT)["id"] == docs[-1].id
    assert page.locator(".ent").count() == len(payload["reports"][-1]["e"])
    assert page.locator("#next").is_disabled()
    page.reload()  # the address keeps the report
    assert page.evaluate(SNAPSHOT)["id"] == docs[-1].id


def test_print_layout_and_screenshot(page, sample_viewer, tmp_path_factory):
    page.goto(sample_viewer.as_uri())
    page.click("#next")
    page.hover("#text .ent.wrong >> nth=0")
    shots = tmp_path_factory.mktemp("screenshots")
    page.screenshot(path=shots / "viewer.png", full_page=True)
    page.emulate_media(media="print")
    assert not page.locator("#controls").is_visible()
    assert page.locator("#text").is_visible() and page.locator("#legend").is_visible()
    page.screenshot(path=shots / "viewer-print.png", full_page=True)
    for name in ("viewer.png", "viewer-print.png"):
        assert (shots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_payload_marks_follow_document_diff():
    payload = build_payload(PRED, GOLD)
    assert [report["id"] for report in payload["reports"]] == [doc.id for doc in MATCHED]
    assert payload["unmatched"] == {"pred_only": {"count": 1, "ids": ["pred-only"]},
                                    "gold_only": {"count": 2, "ids": [doc.id for doc in GOLD[-2:]]}}
    labels = [entry["name"] for entry in payload["labels"]]
    for report, gold, pred in zip(payload["reports"], MATCHED, PRED):
        diff = document_diff(gold, pred)
        wrong = sorted((gold.source_text[row[0]:row[1]], labels[row[2]], labels[row[4]])
                       for row in report["e"] if row[3] == 4)
        assert wrong == sorted((source_slice(gold, r["start_ix"], r["end_ix"]), r["label"], r["gold_label"])
                               for r in diff["entities"]["mislabeled"])
        wrong_types = sorted((payload["relation_types"][row[2]], payload["relation_types"][row[4]])
                             for row in report["r"] if row[3] == 4)
        assert wrong_types == sorted((r["type"], r["gold_type"]) for r in diff["relations"]["mislabeled"])


def test_labels_follow_the_metrics_label_set():
    xl = [doc.with_labels(LabelSet.RADGRAPH_XL) for doc in MATCHED]
    payload = build_payload(xl, MATCHED)  # XL against 1.0 is scored in 1.0 labels
    names = {payload["labels"][i]["name"] for i in payload["used_labels"]}
    assert names <= {"ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA"}
    assert all(row[3] == 1 for report in payload["reports"] for row in report["e"] + report["r"])
    alone = build_payload(xl)
    assert {alone["labels"][i]["name"] for i in alone["used_labels"]} == {
        "Anatomy::definitely present", "Observation::definitely present", "Observation::uncertain",
        "Observation::definitely absent"}


def test_bad_input_is_one_line(tmp_path):
    other = replace(GOLD[0], text=GOLD[0].text.replace("findings", "results", 1), source_text=None, token_offsets=None)
    write_radgraph([other], tmp_path / "pred.json")
    runner = CliRunner()
    done = runner.invoke(app, ["viz", str(tmp_path / "pred.json"), "--gold", str(sample_gold_path()),
                               "-o", str(tmp_path / "out.html")])
    assert done.exit_code == 2
    assert done.stderr == (f"llmgraph: {tmp_path / 'pred.json'}: report {GOLD[0].id}: "
                           "predicted text differs from the gold text at token 0\n")
    done = runner.invoke(app, ["viz", str(tmp_path / "absent.json"), "-o", str(tmp_path / "out.html")])
    assert done.exit_code == 2
    assert done.stderr == f"llmgraph: {tmp_path / 'absent.json'}: no such file\n"
    assert not (tmp_path / "out.html").exists()
    (tmp_path / "broken.json").write_text(json.dumps({"r1": {"text": "a", "entities": {"1": {}}}}))
    done = runner.invoke(app, ["viz", str(tmp_path / "broken.json"), "-o", str(tmp_path / "out.html")])
    assert done.exit_code == 2 and done.stderr.count("\n") == 1 and "broken.json" in done.stderr


def test_marks_carry_their_error_class():
    text = "small right pleural effusion and mild cardiomegaly . no pneumothorax in the lungs . heart enlarged"
    gold = Document("taxonomy", text, [
        Entity("1", "right pleural", "ANAT-DP", 1, 2), Entity("2", "effusion", "OBS-DP", 3, 3),
        Entity("3", "mild", "OBS-DP", 5, 5), Entity("4", "cardiomegaly", "OBS-DP", 6, 6),
        Entity("5", "pneumothorax", "OBS-DA", 9, 9), Entity("6", "lungs", "ANAT-DP", 12, 12),
        Entity("7", "heart", "ANAT-DP", 14, 14), Entity("8", "enlarged", "OBS-DP", 15, 15)],
        [Relation("located_at", "2", "1"), Relation("modify", "3", "4"), Relation("located_at", "5", "6"),
         Relation("located_at", "8", "7")])
    pred = replace(gold, entities=[
        Entity("0", "small", "OBS-DP", 0, 0), Entity("1", "pleural", "ANAT-DP", 2, 2), gold.entities[1],
        replace(gold.entities[3], label="OBS-U"), *gold.entities[4:6], replace(gold.entities[6], label="OBS-DP"),
        gold.entities[7]], relations=[Relation("located_at", "2", "1"), Relation("located_at", "6", "5"),
                                      Relation("located_at", "8", "7")])
    payload = build_payload([pred], [gold])
    report, errors = payload["reports"][0], payload["errors"]

    def error(kind: str, row: list) -> str | None:
        return errors[kind][row[5]] if len(row) > 5 else None

    words = [report["t"][row[0]:row[1]] for row in report["e"]]
    assert {word: (STATUSES[row[3]], error("entity", row)) for word, row in zip(words, report["e"])} == {
        "small": ("spurious", "spurious"), "right pleural": ("missing", "boundary"),
        "pleural": ("spurious", "boundary"), "effusion": ("correct", None), "mild": ("missing", "missed"),
        "cardiomegaly": ("wrong", "wrong certainty"), "pneumothorax": ("correct", None),
        "lungs": ("correct", None), "heart": ("wrong", "wrong type"), "enlarged": ("correct", None)}
    types = payload["relation_types"]
    assert {(words[row[0]], types[row[2]], words[row[1]]): (STATUSES[row[3]], error("relation", row))
            for row in report["r"]} == {
        ("effusion", "located_at", "pleural"): ("spurious", "endpoint error"),
        ("effusion", "located_at", "right pleural"): ("missing", "endpoint error"),
        ("mild", "modify", "cardiomegaly"): ("missing", "lost with its entity"),
        ("lungs", "located_at", "pneumothorax"): ("spurious", "reversed direction"),
        ("pneumothorax", "located_at", "lungs"): ("missing", "reversed direction"),
        ("enlarged", "located_at", "heart"): ("correct", "endpoint error")}  # right spans, an end mislabeled
    marks = [("entity", row) for row in report["e"]] + [("relation", row) for row in report["r"]]
    assert mark_errors(gold, pred) == Counter((kind, error(kind, row)) for kind, row in marks if len(row) > 5)
    alone = build_payload([pred])
    assert all(len(row) == 4 for row in alone["reports"][0]["e"] + alone["reports"][0]["r"])
