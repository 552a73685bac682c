"""Consortium metrics service: job events from JetStream into Postgres; queries over them."""
