"""Our fine-tunable span baseline: a small transformer encoder that tags entity spans (BIO) and classifies
relations between entity pairs, trained with ``train.train_span`` and run with ``predict.SpanPredictor``.
Nothing is imported here, so naming a span model's files (``files``) never loads torch."""
