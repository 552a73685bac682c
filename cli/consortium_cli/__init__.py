"""``consortium``: the operators' command line, speaking only to the gateway's ``/api/v1``."""

__all__ = ["__version__"]

__version__ = "0.1.0"
