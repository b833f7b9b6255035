"""The report viewer: one self-contained HTML file per prediction file, with the diff against gold. It knows
documents only; ``llmgraph.harness.viewers`` writes one per system and gold set of a comparison."""

from llmgraph.viz.viewer import build_payload, render_viewer, write_viewer

__all__ = ["build_payload", "render_viewer", "write_viewer"]
