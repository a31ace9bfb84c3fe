import os
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GRISTMILL_SHARED", REPO.parent / "shared"))
CORPORA = SHARED / "corpora"


@pytest.fixture(scope="session")
def corpora() -> Path:
    """The real public corpora in ../shared/corpora; tests that need them skip, saying why, when absent."""
    if not CORPORA.is_dir():
        pytest.skip(f"real corpora not found at {CORPORA} (set GRISTMILL_SHARED to the folder holding corpora/)")
    return CORPORA


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def runner_args(mode: str = "in_memory") -> list[str]:
    """Beam options (after `--`) for the tests' curate runs.

    `GRISTMILL_TEST_RUNNER_ARGS` (shell words, e.g. `--runner=FlinkRunner --flink_master=host:8081
    --environment_type=LOOPBACK`) points every such test at a real cluster; otherwise the local
    DirectRunner engine runs in `mode` (`in_memory` or `multi_processing`).
    """
    configured = os.environ.get("GRISTMILL_TEST_RUNNER_ARGS")
    if configured:
        return ["--", *shlex.split(configured)]
    workers = 1 if mode == "in_memory" else 2
    return ["--", f"--direct_running_mode={mode}", f"--direct_num_workers={workers}"]
