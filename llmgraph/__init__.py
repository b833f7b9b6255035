"""llmgraph: RadGraph graphs from radiology reports with open LLMs."""

__version__ = "0.1.0"
