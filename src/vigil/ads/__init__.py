"""Direct-response ad analytics on the same engine: attribution, campaign figures net of
refunds and fraud, invalid traffic, and the Yahoo Streaming Benchmark's pipeline."""
