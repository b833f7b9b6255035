"""Fine-tuned LLMs: ``llmgraph train-llm`` trains an LLM on gold graphs (full weights or LoRA) into a model
folder that every LLM backend loads, with ``llm_model.json`` recording how
(``llmgraph.extraction.model_card``)."""
