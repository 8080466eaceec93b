"""One door to the project's data directories (overlays/, kickstart/, the agent).

In a checkout (and an editable install) they sit at the repository root; in a
wheel they are package data under builder/_data/. Nothing else in the builder
builds paths to them, and nothing depends on the current directory.
"""

from importlib import resources
from pathlib import Path

from .errors import InternalError

_REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """The directory `name` ("overlays", "kickstart") of this installation."""
    checkout = _REPO_ROOT / name
    if (_REPO_ROOT / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    packaged = Path(str(resources.files("builder").joinpath("_data", name)))
    if packaged.is_dir():
        return packaged
    raise InternalError(f"the {name}/ data directory is missing from this installation of build-appliance")


def agent_package_dir() -> Path:
    """The first-boot agent's package directory (copied onto the appliance)."""
    import appliance_agent

    return Path(appliance_agent.__file__).resolve().parent
