"""The platform's services by identity: certificates ``CN=service:<name>`` and NATS users.

>>> "contribution" in SERVICES
True
"""

from __future__ import annotations

__all__ = ["SERVICES"]

SERVICES = ("coordinator", "registry", "metrics", "gateway", "contribution")
