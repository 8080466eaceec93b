"""Shared test helpers. Each area (agent, iso, ova, repo, pair) has its own conftest too."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Builds remember digests in the cache directory: keep the tests' out of the caller's home."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BUILD_APPLIANCE_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session")
def repo_root():
    return REPO


@pytest.fixture(scope="session")
def ovf_schemas():
    path = SHARED / "schemas" / "ovf-1.0"
    if not path.is_dir():
        pytest.skip("../shared/schemas/ovf-1.0 is not beside the checkout")
    return path


def pytest_collection_finish(session):
    """The VM tests' Photon stand-in root takes minutes on a fresh machine (CI): build it in a
    thread from the start, while the tests before them run. Cached ones are reused at once."""
    if any("photon_standin_root" in getattr(item, "fixturenames", ()) for item in session.items):
        from tests.standin.root import build_in_background
        build_in_background()
