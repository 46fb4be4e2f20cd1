"""Benchmarks and quality reports that write docs/*.md (never run by the test suite)."""
