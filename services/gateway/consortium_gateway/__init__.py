"""Consortium gateway: the one HTTPS front door to the platform."""
