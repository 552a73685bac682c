"""Consortium benchmarks: Flower apps and harnesses that time federated rounds.

``consortium_bench.apps`` holds benchmark Flower apps (ServerApp + ClientApp pairs) that any
runtime can host; ``consortium_bench.flower_runtime`` runs them on Flower's own
SuperLink/SuperNode deployment runtime and reports per-round wall times.
"""
