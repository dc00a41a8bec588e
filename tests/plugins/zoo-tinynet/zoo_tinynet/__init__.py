"""tinynet: a two-stage conv net, the smallest complete zoo family (used by zoo-core's tests)."""
