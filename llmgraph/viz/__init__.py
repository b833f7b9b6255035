"""The report viewer: one self-contained HTML file per prediction file, with the diff against gold."""

from llmgraph.viz.viewer import build_payload, render_viewer, write_comparison_viewers, write_viewer

__all__ = ["build_payload", "render_viewer", "write_comparison_viewers", "write_viewer"]
