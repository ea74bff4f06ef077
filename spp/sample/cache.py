"""Build the sample city once and reuse it while its code and data are unchanged."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path

from spp.settings import Settings

__all__ = ["ensure_sample", "sample_key"]

log = logging.getLogger(__name__)
_MANIFEST = "manifest.json"


def sample_key(seed: int, dem_resolution_m: float) -> str:
    """Hash of the generator's code and vendored data plus its parameters."""
    h = hashlib.sha256(f"{seed}|{dem_resolution_m}".encode())
    root = Path(__file__).parent
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".py", ".geojson", ".csv", ".json", ".md") and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def ensure_sample(settings: Settings, *, seed: int = 2025, dem_resolution_m: float = 30.0,
                  rebuild: bool = False) -> dict[str, Path]:
    """Return layer name → sample file, building the sample city into ``settings.sample_dir``
    only when it is missing or stale. The build goes to a temporary folder first, so an
    interrupted build never leaves a half-written sample behind."""
    from spp.sample import build_sample

    out = settings.sample_dir
    key = sample_key(seed, dem_resolution_m)
    manifest = out / _MANIFEST
    if not rebuild and manifest.exists():
        data = json.loads(manifest.read_text(encoding="utf-8"))
        files = {k: out / v for k, v in data.get("files", {}).items()}
        if data.get("key") == key and all(p.exists() for p in files.values()):
            return files
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".sample-", dir=out.parent))
    try:
        log.info("building the sample city into %s", out)
        built = build_sample(tmp, seed=seed, dem_resolution_m=dem_resolution_m)
        rel = {k: str(Path(v).relative_to(tmp)) for k, v in built.items()}
        (tmp / _MANIFEST).write_text(json.dumps({"key": key, "files": rel}, indent=1), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {k: out / v for k, v in rel.items()}
