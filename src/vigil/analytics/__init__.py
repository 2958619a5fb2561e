"""Analytics store: events, features and alerts in embedded DuckDB, for SQL and dashboards."""
