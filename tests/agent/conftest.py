import hashlib
import os
import shutil

import pytest

from appliance_agent.ovfenv import build_environment
from appliance_agent.sample import sample_properties
from builder.profile import load_profile


@pytest.fixture(scope="session")
def profile():
    return load_profile(None)


@pytest.fixture
def make_env(profile):
    """make_env(role, **{"key": value}) -> OVF environment bytes for the default profile."""

    def make(role="MASTER", overrides=None, drop=()):
        values = sample_properties(profile, role)
        values.update(overrides or {})
        for key in drop:
            values.pop(key, None)
        return build_environment(values)

    return make


def tree_digest(root):
    """{relative path: (sha256, mode)} of every file under root."""
    result = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                result[os.path.relpath(path, root)] = (hashlib.sha256(handle.read()).hexdigest(), os.stat(path).st_mode)
    return result


def require(tool):
    if not shutil.which(tool):
        if os.environ.get("CI"):
            pytest.fail("%s is not installed; scripts/test installs it" % tool)
        pytest.skip("%s is not installed (scripts/test installs it)" % tool)
