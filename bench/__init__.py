"""Benchmarks: each script prints its figures side by side with its baseline. Nothing here is a test."""
