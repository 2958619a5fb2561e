"""Named per-entity features, maintained incrementally by the runtime and exported to analytics."""
