"""The coordinator's side of the NATS runtime: presence, the NATS hub and Flower's Grid."""
