"""Load an appliance profile: TOML merged over the embedded default.

The merged data goes through the agent's `Profile.from_dict`, so the
builder accepts exactly the profiles the appliance understands.
"""

import copy
import hashlib
import json
import tomllib
from importlib import resources
from pathlib import Path

from appliance_agent.errors import ProfileError
from appliance_agent.profile import Profile
from appliance_agent.render import TEMPLATE_NAMES

from .errors import InvalidInput

DEFAULT_PROFILE = "default.toml"


def default_profile_data() -> dict:
    """The embedded default profile, as plain data."""
    text = resources.files("builder").joinpath("profiles", DEFAULT_PROFILE).read_text(encoding="utf-8")
    return tomllib.loads(text)


def merge(base: dict, override: dict) -> dict:
    """Tables merge key by key; any other value (lists included) is replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_profile_data(path: Path | None) -> dict:
    """The merged profile data; template paths made absolute and checked."""
    data = default_profile_data()
    if path is None:
        return data
    path = Path(path)
    try:
        user = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"profile {path}: no such file; pass an existing .toml file to --profile")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"profile {path}: cannot be read ({exc})")
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"profile {path}: not valid TOML ({exc})")
    templates = user.get("templates", {})
    if isinstance(templates, dict):
        resolved = {}
        for name, file_name in templates.items():
            if not isinstance(file_name, str):
                raise InvalidInput(f"profile {path}: templates.{name} must be a file name")
            template_path = (path.parent / file_name).resolve()
            if not template_path.is_file():
                raise InvalidInput(f"profile {path}: templates.{name}: {template_path} does not exist")
            resolved[name] = str(template_path)
        user = dict(user, templates=resolved)
    return merge(data, user)


def load_profile(path: Path | None = None) -> Profile:
    """The frozen profile for `path` (None: the embedded default)."""
    data = load_profile_data(path)
    try:
        profile = Profile.from_dict(data)
    except ProfileError as exc:
        where = f"profile {path}" if path else "default profile"
        raise InvalidInput(f"{where}: {exc}")
    unknown = sorted(set(profile.templates) - set(TEMPLATE_NAMES))
    if unknown:
        raise InvalidInput(
            f"profile {path}: templates.{unknown[0]} is not a template of the appliance "
            f"(known: {', '.join(TEMPLATE_NAMES)})"
        )
    return profile


def profile_digest(profile: Profile) -> str:
    """SHA-256 of the profile's canonical JSON, template contents included."""
    data = profile.to_dict()
    data["templates"] = {
        name: hashlib.sha256(Path(file).read_bytes()).hexdigest() for name, file in sorted(profile.templates.items())
    }
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()
