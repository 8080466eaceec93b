"""Load an appliance profile: TOML merged over the embedded default.

The merged data goes through the agent's `Profile.from_dict`, so the
builder accepts exactly the profiles the appliance understands.
"""

import copy
import hashlib
import json
import tempfile
import tomllib
from importlib import resources
from pathlib import Path
from xml.sax.saxutils import escape

from appliance_agent.errors import AgentError, ApplyError, ProfileError, ValidationError
from appliance_agent.profile import Profile, shown, shown_key
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
            if not isinstance(file_name, str) or not file_name or "\x00" in file_name:
                raise InvalidInput(f"profile {path}: templates.{shown_key(name)} must be a file name")
            template_path = (path.parent / file_name).resolve()
            if not template_path.is_file():
                raise InvalidInput(
                    f"profile {path}: templates.{shown_key(name)}: {shown(str(template_path), 200)} does not exist; "
                    "give the template's path relative to the profile"
                )
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
            f"profile {path}: templates.{shown_key(unknown[0])} is not a template of the appliance "
            f"(known: {', '.join(TEMPLATE_NAMES)})"
        )
    return profile


SAMPLE_ROLES = ("MASTER", "BACKUP")
MAX_MESSAGE = 300


def check_sample_nodes(profile: Profile, *, check: bool = True, log=lambda line: None,
                       where: str = "profile") -> None:
    """Configure a sample MASTER and BACKUP node with `profile`, as `render` does; InvalidInput on the first problem.

    The agent's own pipeline renders every file (templates included) into a
    scratch root and, with `check`, runs `haproxy -c` and `keepalived
    --config-test` where they are installed: a profile that passes here gives
    an appliance that can configure itself from a consistent form.
    """
    # lazy: the agent's pipeline pulls in jinja2
    from appliance_agent import pipeline
    from appliance_agent.form import form_for
    from appliance_agent.ovfenv import build_environment
    from appliance_agent.sample import sample_properties

    form = form_for(profile)
    keys = [prop.key for prop in form]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise InvalidInput(f"{where}: the property key {duplicates[0]} is used twice in the form; "
                           "give each service's vip_property and servers_property keys of their own")
    checked = []
    for role in SAMPLE_ROLES:
        values = sample_properties(profile, role)
        secrets = [values[prop.key] for prop in form if prop.password and values.get(prop.key)]
        with tempfile.TemporaryDirectory(prefix="appliance-sample-") as root:
            try:
                pipeline.configure(build_environment(values), profile, root=root, check=check, activate=False,
                                   log=lambda line: checked.append(line))
            except Exception as exc:  # any failure means the appliance could not configure itself
                raise InvalidInput(_redacted(_sample_problem(exc, profile, role, where), secrets))
    for line in dict.fromkeys(checked):
        if not line.startswith("ignoring property"):
            log(f"profile: sample nodes: {line}")


def _sample_problem(exc: Exception, profile: Profile, role: str, where: str) -> str:
    """One line for what went wrong configuring a sample `role` node."""
    prefix = f"{where}: a sample {role} node cannot be configured"
    if isinstance(exc, ValidationError):
        key, message = exc.problems[0]
        return f"{prefix}: {key}: {message}; check the services' vip_property and servers_property"
    if isinstance(exc, ProfileError):  # the agent names the template and the fix itself
        return f"{prefix}: {_one_line(str(exc))}"
    if isinstance(exc, (ApplyError, OSError)):  # the scratch root, not the profile
        return f"{prefix} in {tempfile.gettempdir()}: {_one_line(str(exc))}; free space there or set TMPDIR"
    if isinstance(exc, AgentError):
        return f"{prefix}: {_one_line(str(exc))}; fix the templates or the [services] that produce it"
    return f"{prefix}: {type(exc).__name__}: {_one_line(str(exc))}; fix the templates or the [services] that produce it"


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."


def _redacted(text: str, secrets: list[str]) -> str:
    """`text` with every sample password replaced: no message prints a password property's value."""
    for secret in sorted(secrets, key=len, reverse=True):
        for form in (secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], escape(secret, {'"': "&quot;"})):
            text = text.replace(form, "(password)")
    return text


def profile_digest(profile: Profile) -> str:
    """SHA-256 of the profile's canonical JSON, template contents included."""
    data = profile.to_dict()
    data["templates"] = {
        name: hashlib.sha256(Path(file).read_bytes()).hexdigest() for name, file in sorted(profile.templates.items())
    }
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()
