"""Consortium registry: participants, operators, enrollment, the internal CA and the audit log."""
