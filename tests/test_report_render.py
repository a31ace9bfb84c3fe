"""The HTML report renders in headless Chromium, offline, and the screenshot is not blank."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from dataset_fixtures import write_dataset
from report_support import ERRORS, SECTIONS, config, kept_rows, rejected_rows

from quality.report import build_report

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install -y chromium; .ci/run installs it)")
def test_report_renders_offline_in_headless_chromium(tmp_path):
    root = write_dataset(tmp_path / "ds", kept_rows(), rejected_rows(), ERRORS, config(), sections=SECTIONS)
    report = build_report(root)
    shot = tmp_path / "shot.png"
    # Every host name resolves to nothing: the page must render from the file alone.
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
               "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp_path / 'profile'}",
               "--window-size=1280,2400", f"--screenshot={shot}", report.index.as_uri()]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2400, 1280)
    assert pixels.std() > 0.1, "screenshot is (nearly) one colour"
    non_white = (pixels < 0.95).any(axis=2).mean()
    assert non_white > 0.03, f"only {non_white:.1%} of the screenshot is not white"
    # The inline plots were drawn: pixels in the plots' bar colour (#2a7ab0) are present.
    bar = np.array([0x2A, 0x7A, 0xB0]) / 255
    assert (np.abs(pixels - bar).max(axis=2) < 0.03).sum() > 2000
