"""The console's browser tests: where Chromium and the built console are, and why a test skips."""

from __future__ import annotations

import base64
import hashlib
import shutil
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"

__all__ = ["WEB", "chromium_binary", "missing_for_browser_tests", "spki_pin"]


def chromium_binary() -> str | None:
    """Debian's Chromium (``apt-get install chromium``); never a downloaded browser."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def missing_for_browser_tests() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if shutil.which("node") is None or shutil.which("npx") is None:
        return "node/npx not installed (the console's tests need Node 20.19+)"
    if not (WEB / "node_modules" / "playwright-core").is_dir():
        return "web/node_modules missing: run `make install` (npm ci in web/)"
    if not (WEB / "dist" / "index.html").is_file():
        return "the console is not built: run `make install` (npm run build in web/)"
    if chromium_binary() is None:
        return "Chromium not installed: `apt-get install -y chromium` (make install, as root)"
    return None


def spki_pin(cert_pem: Path) -> str:
    """The certificate's public-key pin for ``--ignore-certificate-errors-spki-list``: Chromium
    then trusts exactly this certificate and nothing else without a valid chain."""
    cert = x509.load_pem_x509_certificate(cert_pem.read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()
