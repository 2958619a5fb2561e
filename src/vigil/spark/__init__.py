"""The keyed stages on Apache Spark Structured Streaming (``vigil spark run``; the ``spark``
extra). ``processor.StageProcessor`` hosts any stage of the keyed-state contract under
``transformWithState``; ``job`` wires a detector's stages into one streaming query.
docs/spark.md, docs/adr/0006-spark-runtime.md."""
