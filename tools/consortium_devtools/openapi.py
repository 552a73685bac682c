"""Writes the gateway's OpenAPI document, from which the console's API types are generated.

``python -m consortium_devtools.openapi web/openapi.json`` then ``npm run api-types`` in
``web/``; a unit test fails when the committed document differs from the gateway's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["gateway_openapi", "main", "render"]


def gateway_openapi() -> dict[str, Any]:
    """The gateway's OpenAPI document as its application builds it (nothing is started)."""
    from consortium_gateway.app import create_app
    from consortium_gateway.settings import GatewaySettings

    return create_app(GatewaySettings()).openapi()


def render(document: dict[str, Any]) -> str:
    """Stable text: sorted keys, two-space indent, a final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m consortium_devtools.openapi OUTPUT.json", file=sys.stderr)
        return 2
    Path(args[0]).write_text(render(gateway_openapi()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
