"""Quality and speed benchmarks for smallcut (not part of the installed package)."""
