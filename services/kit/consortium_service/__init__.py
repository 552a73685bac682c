"""Shared edges of the Consortium services (not used by the client SDK)."""
