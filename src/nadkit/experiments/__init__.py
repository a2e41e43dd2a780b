"""Evaluation protocols, the benchmark runner and experiment tracking."""
