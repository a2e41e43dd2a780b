"""Edit a saved model directory the way a careful attacker (or an older nadkit) would: change a
file and make the manifest agree, so that only the loader's own checks stand in the way."""

import hashlib
import json


def manifest(path):
    return json.loads((path / "manifest.json").read_text())


def rewrite(path, name, data, listed_as=None):
    """Replace file ``name`` with ``data`` (bytes, str or a JSON object) and make the manifest
    agree (size and SHA-256), as a careful attacker would."""
    if isinstance(data, dict):
        data = json.dumps(data)
    if isinstance(data, str):
        data = data.encode()
    (path / name).write_bytes(data)
    m = manifest(path)
    m["files"][listed_as or name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (path / "manifest.json").write_text(json.dumps(m))
