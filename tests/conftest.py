import os
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
