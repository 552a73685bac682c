"""The metrics service's tables (``metrics_*``), their migrations and the batch writer."""
