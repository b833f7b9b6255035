"""Ray Data as the engine of a run: a system's reports fanned out over a pool of replicas on a Ray cluster.

``RaySystem`` is itself a System (``llmgraph.systems.kinds``), so the resumable runner drives it as it drives a
local one: ``batch.run_resumable`` hands it the reports not yet finished, it sends them through
``ray.data`` ``map_batches`` to ``replicas`` actors that each build the same system from the same typed
config (an LLM on its backend, a span model, a radgraph package model), and yields the finished batches
as they stream back. The partial file, resume, per-report errors, output and manifest are those of a
local run, so a killed job run again skips the reports already written and never writes one twice.

From a user's own Ray job (``ray.init`` called already) ``RaySystem.build`` runs on that cluster; otherwise
it connects to ``address`` (or ``RAY_ADDRESS``) or starts a local cluster. Every replica must be able to
import llmgraph and read the model (a shared file system or the Hugging Face cache on each node).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import pickle
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from llmgraph.core.defaults import DEFAULT_BATCH_SIZE  # reports per replica call when the system sets none
from llmgraph.core.document import Batch, Document
from llmgraph.core.errors import InputError


@dataclass(frozen=True)
class RayOptions:
    """How the run spreads over the cluster."""

    replicas: int = 1
    cpus_per_replica: float = 1.0
    gpus_per_replica: float = 0.0
    address: str | None = None  # None: RAY_ADDRESS, else a local cluster of this machine's cores

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise InputError(f"--replicas must be at least 1, not {self.replicas}")
        for name, value in (("--cpus-per-replica", self.cpus_per_replica), ("--gpus-per-replica", self.gpus_per_replica)):
            if not math.isfinite(value):
                raise InputError(f"{name} must be a finite number, not {value}")
        if self.cpus_per_replica <= 0 or self.gpus_per_replica < 0:
            raise InputError("--cpus-per-replica must be above 0 and --gpus-per-replica at least 0")

    def check_fits(self, nodes: list[dict[str, float]]) -> None:
        """Refuse replicas the cluster cannot place (Ray would wait for them for ever): ``nodes`` are the
        resources of each live node (``CPU``, ``GPU``)."""
        def fits(node: dict[str, float]) -> int:
            counts = [node.get("CPU", 0.0) // self.cpus_per_replica]
            if self.gpus_per_replica:
                counts.append(node.get("GPU", 0.0) // self.gpus_per_replica)
            return int(min(counts))

        placed = sum(fits(node) for node in nodes)
        if placed >= self.replicas:
            return
        largest = max(nodes, key=lambda node: (node.get("GPU", 0.0), node.get("CPU", 0.0)), default={})
        asked = f"{self.cpus_per_replica:g} CPU" + (f" and {self.gpus_per_replica:g} GPU" if self.gpus_per_replica else "")
        have = f"{len(nodes)} node(s), the largest with {largest.get('CPU', 0.0):g} CPU and {largest.get('GPU', 0.0):g} GPU"
        if not placed:
            raise InputError(f"no node of the Ray cluster has {asked} for a replica ({have}): lower "
                             "--cpus-per-replica / --gpus-per-replica")
        raise InputError(f"the Ray cluster holds {placed} replica(s) of {asked}, not --replicas {self.replicas} "
                         f"({have})")


class _Replica:
    """One actor of the pool: the system built once from its config, then fed batches of reports."""

    def __init__(self, kind: str, settings: dict[str, Any], examples: str | None, labeler: str):
        from llmgraph.systems.kinds import build_system

        self.system = build_system(kind, settings, examples, labeler)
        self.name = uuid.uuid4().hex

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        docs = [doc for blob in batch["reports"] for doc in pickle.loads(blob)]
        rows: list[tuple[str, bytes, str]] = []  # id, pickled document (or nothing), error (or nothing)
        for finished, failed in self.system.stream(docs):
            rows += [(doc.id, pickle.dumps(doc), "") for doc in finished]
            rows += [(doc_id, b"", problem) for doc_id, problem in failed.items()]
        ids, documents, errors = (list(column) for column in zip(*rows)) if rows else ([], [], [])
        manifest = {key: value for key, value in self.system.manifest().items() if key != "errors"}
        # The replica's manifest so far (its counts are running totals) rides on the batch's first row.
        notes = ([json.dumps(manifest, default=str)] + [""] * (len(ids) - 1)) if ids else []
        return {"id": ids, "document": documents, "error": errors, "replica": [self.name] * len(ids),
                "manifest": notes}


def _reachable(address: str, source: str = "--ray-address") -> None:
    """A one-line error now, instead of Ray retrying an address that does not answer for minutes;
    ``source`` names where the address came from (the option or the environment)."""
    if address in ("auto", "local"):
        return
    host_port = address.split("://", 1)[-1].rsplit("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"{source} {address!r}: expected HOST:PORT, ray://HOST:PORT, auto or local")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as error:
        raise InputError(f"the Ray cluster at {address} is not reachable ({error.strerror or error})") from None


def _input_error(error: BaseException) -> InputError | None:
    """The InputError a replica raised, out of the exceptions Ray wraps it in."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, InputError):
            return error
        seen.add(id(error))
        error = getattr(error, "cause", None) or error.__cause__ or error.__context__
    return None


class RaySystem:
    """A system run by replicas on a Ray cluster (see the module's docstring).

    ``local`` is the same system built in this process: it gives the settings that a resumed run must
    match and checks the config before the cluster starts; it never loads a model here.
    """

    def __init__(self, kind: str, settings: dict[str, Any], local: Any, options: RayOptions = RayOptions(),
                 examples: str | None = None, labeler: str = "1"):
        self.kind, self.config_settings, self.local, self.options = kind, settings, local, options
        self.examples, self.labeler = examples, labeler
        self.batch_size = int(settings.get("batch_size") or DEFAULT_BATCH_SIZE)
        self.replica_manifests: dict[str, dict[str, Any]] = {}
        self.started_cluster = False
        self.seconds = 0.0
        self.ray_version: str | None = None
        self.address = options.address or os.environ.get("RAY_ADDRESS")  # None: a local cluster
        if self.address:  # before any report is read
            _reachable(self.address, "--ray-address" if options.address else "RAY_ADDRESS")

    @classmethod
    def build(cls, kind: str, settings: dict[str, Any], options: RayOptions = RayOptions(),
              examples: str | None = None, labeler: str = "1") -> "RaySystem":
        """A system of type ``kind`` from its experiment-file keys, run on Ray (the Python entry point)::

            system = RaySystem.build("span", {"model": "span-model"}, RayOptions(replicas=4))
            run_extraction(system, lambda: iter_run_input("reports.parquet"), Path("graphs.json"), Path("reports.parquet"))
        """
        from llmgraph.systems.kinds import build_system

        return cls(kind, settings, build_system(kind, settings, examples, labeler), options, examples, labeler)

    def settings(self) -> dict[str, Any]:
        return self.local.settings()

    def _connect(self) -> Any:
        import ray

        self.ray_version = ray.__version__
        if not ray.is_initialized():  # else a user's own Ray job
            try:
                ray.init(address=self.address, logging_level="ERROR", log_to_driver=False, include_dashboard=False)
            except ConnectionError as error:
                raise InputError(f"the Ray cluster at {self.address} is not reachable "
                                 f"({str(error).splitlines()[0]})") from None
            self.started_cluster = True
        self.options.check_fits([node["Resources"] for node in ray.nodes() if node.get("Alive")])
        return ray

    def stream(self, docs: Iterable[Document]) -> Iterator[Batch]:
        # A row per batch of reports, in input order: a replica sees the batches a local run would make
        # (bf16 numbers may depend on a batch's make-up), and each finished batch streams back to be kept.
        docs = iter(docs)
        rows = [{"reports": pickle.dumps(batch)} for batch in iter(lambda: list(itertools.islice(docs, self.batch_size)), [])]
        if not rows:
            return
        ray = self._connect()
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the runner's bar counts the reports
        if not logging.getLogger("llmgraph").isEnabledFor(logging.INFO):  # Ray Data's notes only with --verbose
            logging.getLogger("ray.data").setLevel(logging.ERROR)
        options = self.options
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
        dataset = dataset.map_batches(
            _Replica, batch_size=1, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=options.replicas),
            num_cpus=options.cpus_per_replica, num_gpus=options.gpus_per_replica or None,
            fn_constructor_kwargs={"kind": self.kind, "settings": self.config_settings,
                                   "examples": self.examples, "labeler": self.labeler})
        started = time.perf_counter()
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                yield self._finished(batch)
        except Exception as error:
            wrapped = _input_error(error)
            if wrapped is not None:
                raise wrapped from None
            raise
        finally:
            self.seconds += time.perf_counter() - started

    def _finished(self, batch: dict[str, Any]) -> Batch:
        documents, errors = [], {}
        for doc_id, blob, problem, replica, note in zip(batch["id"], batch["document"], batch["error"],
                                                        batch["replica"], batch["manifest"]):
            if note:
                self.replica_manifests[str(replica)] = json.loads(note)
            if problem:
                errors[str(doc_id)] = str(problem)
            else:
                documents.append(pickle.loads(blob))
        return documents, errors

    def tokens(self) -> int:
        return sum(manifest.get("counts", {}).get("completion_tokens", 0) for manifest in self.replica_manifests.values())

    def manifest(self) -> dict[str, Any]:
        """One replica's manifest, with the counts and seconds summed over all replicas and the rates
        taken over this run's wall time; ``engine`` says how it ran."""
        manifests = list(self.replica_manifests.values())
        manifest = dict(manifests[0]) if manifests else self.local.manifest()
        counts: dict[str, Any] = {}
        seconds: dict[str, float] = {}
        for each in manifests:
            for key, value in each.get("counts", {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    counts[key] = counts.get(key, 0) + value
            for key, value in (each.get("seconds") or {}).items():
                if isinstance(value, (int, float)):
                    seconds[key] = seconds.get(key, 0.0) + value
        if manifests:
            manifest["counts"] = counts
            manifest["seconds"] = seconds | {"wall_in_ray": self.seconds}
            reports = counts.get("reports", 0)
            manifest["reports_per_second"] = reports / self.seconds if self.seconds else None
            if "generated_tokens_per_second" in manifest:
                tokens = counts.get("completion_tokens", 0)
                manifest["generated_tokens_per_second"] = tokens / self.seconds if self.seconds else None
        manifest["engine"] = {"name": "ray", "ray": self.ray_version, "replicas": self.options.replicas,
                              "replicas_that_ran": len(manifests), "cpus_per_replica": self.options.cpus_per_replica,
                              "gpus_per_replica": self.options.gpus_per_replica,
                              "address": self.address or "local",
                              "batch_size": self.batch_size, "seconds_are": "summed over replicas",
                              "rates_are": "over the Ray run's wall time, replica start-up and model loads included"}
        return manifest

    def close(self) -> None:
        self.local.close()
        if self.started_cluster:
            import ray

            ray.shutdown()
            self.started_cluster = False
