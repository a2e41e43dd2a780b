"""The README's dashboard pictures (docs/img/*.png), taken by the browser tests.

The tests in tests/service/ start the real server (uvicorn) on real data (NSL-KDD test rows for
an AE and an IForest, SKAB valve1/0 for a small DC-VAE; models trained in seconds on small real
subsets, see tests/service/conftest.py) and save full-page screenshots with Playwright driving
Debian's chromium. This script runs the four tests that save the chosen pictures, then writes
each to docs/img as a 256-colour PNG (the pixels' colours mapped to a palette, nothing redrawn),
cropped to its first ``height`` pixels where the page is long, and checks each stays < 300 KB.

    NADKIT_DATA=/path/to/datasets OMP_NUM_THREADS=1 python benchmarks/readme_screenshots.py
    python benchmarks/readme_screenshots.py --from /tmp/shots   # reuse a --basetemp of those tests

Needs the `dev` extra (pytest, playwright) and /usr/bin/chromium; about 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "img"
MAX_BYTES = 300_000
#: README picture → (test that saves it, its screenshot, crop height in pixels or None)
SHOTS = {
    "incidents.png": ("tests/service/test_incidents_page.py::test_incidents_page_lists_sorts_and_filters",
                      "incidents.png", 1000),
    "swimlane-entities.png": ("tests/service/test_entities_page.py::test_swimlane_has_one_lane_per_entity",
                              "swimlane-entities.png", None),
    "series.png": ("tests/service/test_dashboard.py::test_series_page_shows_bands_flags_and_scores",
                   "series.png", 1340),
    "flows.png": ("tests/service/test_dashboard.py::test_flows_row_shows_features_and_contributions",
                  "flows-detail.png", 1150),
}


def take(basetemp: Path) -> None:
    """Run the tests that save the pictures, their tmp_path under ``basetemp``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    tests = list(dict.fromkeys(test for test, _, _ in SHOTS.values()))
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", *tests,
                    f"--basetemp={basetemp}"], cwd=ROOT, env=env, check=True)


def find(basetemp: Path, test: str, name: str) -> Path:
    """The screenshot ``name`` that ``test`` saved (pytest names tmp_path after the test, cut to 30 characters)."""
    prefix = test.split("::")[1][:30]
    found = sorted(p for p in basetemp.glob(f"{prefix}*/{name}") if "current" not in p.parent.name)
    if not found:
        raise SystemExit(f"{name} of {test} not found under {basetemp}")
    return found[-1]


def write(src: Path, dest: Path, height: int | None) -> int:
    from PIL import Image

    with Image.open(src) as im:
        im = im.convert("RGB")
        if height is not None and im.height > height:
            im = im.crop((0, 0, im.width, height))
        small = im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    tmp = dest.with_name(f".{dest.name}.tmp")
    small.save(tmp, format="PNG", optimize=True)
    size = tmp.stat().st_size
    if size >= MAX_BYTES:
        tmp.unlink()
        raise SystemExit(f"{dest.name}: {size:,} bytes, over {MAX_BYTES:,}: crop it shorter")
    tmp.replace(dest)  # atomic
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="basetemp", type=Path, help="a --basetemp the tests already ran with")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nadkit-shots-") as tmp:
        basetemp = args.basetemp
        if basetemp is None:
            basetemp = Path(tmp) / "pytest"
            take(basetemp)
        OUT.mkdir(parents=True, exist_ok=True)
        for name, (test, shot, height) in SHOTS.items():
            size = write(find(basetemp, test, shot), OUT / name, height)
            print(f"{OUT / name}: {size:,} bytes")


if __name__ == "__main__":
    main()
