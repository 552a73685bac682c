"""Benchmark Flower apps.

Each module ``consortium_bench.apps.<name>`` defines ``server_app`` and ``client_app``.
"""
