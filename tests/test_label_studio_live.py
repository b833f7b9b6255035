"""A real Label Studio, through its REST API: a project from the labeling config `review export` writes, its
tasks imported with the system's graphs as predictions (pre-annotations), annotations submitted (the
predictions with a deleted entity, a relabelled one, a moved boundary and a new relation), the project
exported as JSON, and `review import` gives back exactly the edited graphs.

Label Studio pins its own Django, so it lives in its own virtualenv, outside llmgraph's: made once per
Label Studio version under ``$LLMGRAPH_CACHE`` (default ``~/.cache/llmgraph``), reused by every later
run. It is started on 127.0.0.1 with SQLite in a temp folder and a known user token, and stopped at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from llmgraph.cli.app import app
from llmgraph.io.radgraph_reader import read_radgraph
from llmgraph.io.radgraph_writer import write_radgraph
from test_review import GOLD, edited, edited_result

pytestmark = pytest.mark.slow

LABEL_STUDIO_VERSION = "1.23.2"
# Label Studio asks for sentry-sdk>=2.16 and calls an option sentry-sdk 3 removed: it would not start.
CONSTRAINTS = ("sentry-sdk<3",)
TOKEN = "llmgraph0test0token0000000000000000000000"
STARTUP_SECONDS = 600


def label_studio_venv() -> Path:
    """Label Studio's own virtualenv, installed once per version; a ``.complete`` mark is written last, so
    an install that broke off is made again, never reused."""
    cache = Path(os.environ.get("LLMGRAPH_CACHE", Path.home() / ".cache" / "llmgraph"))
    venv = cache / f"label-studio-{LABEL_STUDIO_VERSION}"
    if (venv / ".complete").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", f"label-studio=={LABEL_STUDIO_VERSION}",
                    *CONSTRAINTS], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    (venv / ".complete").touch()
    return venv


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    venv = label_studio_venv()
    data = tmp_path_factory.mktemp("label-studio")
    port = free_port()
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data), "DJANGO_DB": "sqlite",
           "LABEL_STUDIO_USERNAME": "reviewer@example.org", "LABEL_STUDIO_PASSWORD": "llmgraph-review",
           "LABEL_STUDIO_USER_TOKEN": TOKEN, "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
           "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true", "SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "",
           "COLLECT_ANALYTICS": "false", "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    log = (data / "label-studio.log").open("w")
    server = subprocess.Popen([str(venv / "bin" / "label-studio"), "start", "--no-browser", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.headers["Authorization"] = f"Token {TOKEN}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if server.poll() is not None:
                raise AssertionError(f"Label Studio exited: {(data / 'label-studio.log').read_text()[-2000:]}")
            try:
                if session.get(f"{url}/api/projects", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"Label Studio did not answer in {STARTUP_SECONDS} s")
            time.sleep(2)
        yield url, session
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        log.close()


def editable(doc) -> bool:
    kept = [e for e in doc.entities if e.end_ix + 1 < len(doc.tokens)]
    return len(kept) > 2 and all(e.start_ix != kept[2].end_ix + 1 for e in doc.entities)


def test_review_round_trip_through_label_studio(label_studio, tmp_path):
    url, session = label_studio
    docs = [doc for doc in GOLD if editable(doc)][:3]
    pred = tmp_path / "pred.json"
    write_radgraph(docs, pred)
    out = tmp_path / "export"
    result = CliRunner().invoke(app, ["review", "export", str(pred), "-o", str(out), "--to", "label-studio",
                                      "--select", "random", "--system", "sample-gold"])
    assert result.exit_code == 0, result.output
    config = (out / "labeling_config.xml").read_text()
    project = session.post(f"{url}/api/projects", json={"title": "llmgraph review", "label_config": config})
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    tasks = json.loads((out / "tasks.json").read_text())
    imported = session.post(f"{url}/api/projects/{project_id}/import", json=tasks)
    assert imported.status_code == 201, imported.text
    listed = session.get(f"{url}/api/tasks", params={"project": project_id, "fields": "all"}).json()
    listed = listed["tasks"] if isinstance(listed, dict) else listed
    assert len(listed) == len(docs)
    by_id = {doc.id: doc for doc in docs}
    expected = []
    for task in listed:
        stored = session.get(f"{url}/api/tasks/{task['id']}").json()
        doc = by_id[stored["data"]["llmgraph"]["id"]]
        predictions = stored["predictions"]  # the pre-annotations, as the reviewer sees them
        assert len(predictions) == 1 and predictions[0]["model_version"] == "sample-gold"
        regions = [item for item in predictions[0]["result"] if item["type"] == "labels"]
        assert len(regions) == len(doc.entities)
        annotation = session.post(f"{url}/api/tasks/{task['id']}/annotations",
                                  json={"result": edited_result(stored["predictions"][0]["result"], doc),
                                        "was_cancelled": False})
        assert annotation.status_code == 201, annotation.text
        expected.append(edited(doc)[0])
    export = session.get(f"{url}/api/projects/{project_id}/export", params={"exportType": "JSON"})
    assert export.status_code == 200, export.text
    (tmp_path / "label-studio-export.json").write_bytes(export.content)
    gold = tmp_path / "reviewed.json"
    result = CliRunner().invoke(app, ["review", "import", str(tmp_path / "label-studio-export.json"), "-o", str(gold)])
    assert result.exit_code == 0, result.output
    assert sorted(read_radgraph(gold), key=lambda d: d.id) == sorted(expected, key=lambda d: d.id)
