"""Fine-tuned LLMs: ``llmgraph train-llm`` trains an LLM on gold graphs (full weights or LoRA) into a model
folder that every LLM backend loads, with ``llm_model.json`` recording how
(``llmgraph.extraction.model_card``). ``train.train_llm`` runs the steps, top to bottom: ``checks``,
``model`` (load), ``dataset`` and ``examples``, ``fit`` with ``loss`` and ``progress``, ``model`` (save),
``record``, ``dev``; ``config`` holds the settings."""
