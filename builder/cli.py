"""The `build-appliance` command line. Only this module imports click.

Commands translate between the command line and the library; library
errors (builder.errors, appliance_agent.errors) become one-line messages
and exit status 1 here, flag problems exit 2, and a traceback is shown only
with --debug.
"""

import json
import sys
from pathlib import Path

import click

from appliance_agent.errors import AgentError, ValidationError

from . import __version__
from .errors import BuildError


class ReportedError(click.ClickException):
    """A user-facing error of one or more lines, each printed as 'Error: ...'."""

    def __init__(self, lines):
        self.lines = list(lines) or ["unknown error"]
        super().__init__(self.lines[0])

    def show(self, file=None):
        for line in self.lines:
            click.echo("Error: %s" % line, err=True)


class ApplianceGroup(click.Group):
    """Turns library errors into clean messages; tracebacks only with --debug."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ValidationError as exc:
            raise ReportedError(exc.lines())
        except (BuildError, AgentError) as exc:
            raise ReportedError(str(exc).splitlines())
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            raise click.exceptions.Abort()
        except Exception as exc:  # a bug: say so in one line unless debugging
            if ctx.params.get("debug"):
                raise
            raise ReportedError(
                ["internal error: %s: %s (run again with --debug for the traceback)" % (type(exc).__name__, exc)]
            )


profile_option = click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Appliance profile (TOML) merged over the embedded default.",
)


@click.group(cls=ApplianceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="build-appliance")
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors.")
def cli(debug):
    """Turn a stock Photon OS ISO into an HA HAProxy + keepalived
    load-balancer appliance for Horizon, App Volumes and UAG.

    \b
    Try it without vCenter:
      build-appliance env-template --role MASTER --out master.xml
      build-appliance render --env master.xml --out preview/
    """


@cli.command()
@profile_option
@click.option("--json", "as_json", is_flag=True, help="Print the form as JSON.")
def properties(profile_path, as_json):
    """Print the property form that vCenter shows when deploying the OVA.

    \b
    Example:
      build-appliance properties
      build-appliance properties --profile my.toml --json
    """
    from appliance_agent.form import form_for

    from .profile import load_profile

    form = form_for(load_profile(profile_path))
    if as_json:
        click.echo(json.dumps([prop.to_dict() for prop in form], indent=2))
        return
    category = None
    for prop in form:
        if prop.category != category:
            category = prop.category
            click.echo("\n%s" % category)
        flags = ", ".join(
            flag for flag, on in (("required", prop.required), ("password", prop.password)) if on
        )
        default = " [default: %s]" % prop.default if prop.default else ""
        click.echo("  %-26s %s%s%s" % (prop.key, prop.label, " (%s)" % flags if flags else "", default))
        click.echo("  %-26s   %s" % ("", prop.description))


@cli.command("env-template")
@click.option("--role", type=click.Choice(["MASTER", "BACKUP"], case_sensitive=False), required=True)
@profile_option
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Replace one sample value (repeatable), e.g. --set node.ip=192.0.2.31/24.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write here instead of standard output.",
)
def env_template(role, profile_path, overrides, out):
    """Write a filled sample OVF environment for one node of a pair.

    The two roles' samples form a consistent pair (documentation addresses
    192.0.2.0/24 for the nodes and VIPs, 198.51.100.0/24 for the backends),
    so `render` accepts them as they are.

    \b
    Example:
      build-appliance env-template --role BACKUP --set ha.vrid=77 --out backup.xml
    """
    from appliance_agent.form import form_for
    from appliance_agent.ovfenv import build_environment
    from appliance_agent.sample import sample_properties

    from .profile import load_profile

    profile = load_profile(profile_path)
    values = sample_properties(profile, role.upper())
    keys = set(prop.key for prop in form_for(profile))
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or key not in keys:
            raise click.BadParameter(
                "%r: expected KEY=VALUE with a key of the form (see `build-appliance properties`)" % override,
                param_hint="--set",
            )
        values[key] = value
    document = build_environment(values)
    if out is None:
        sys.stdout.buffer.write(document)
    else:
        out.write_bytes(document)
        click.echo("wrote %s (%s)" % (out, role.upper()), err=True)


@cli.command()
@click.option(
    "--env",
    "env_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="OVF environment XML (as vCenter hands it to the VM).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Root directory to write the node's files under.",
)
@profile_option
@click.option("--no-check", is_flag=True, help="Skip haproxy -c and keepalived --config-test.")
def render(env_path, out, profile_path, no_check):
    """Write one node's configuration under OUT, as the appliance would.

    Runs the first-boot agent's own code with OUT as its root: networkd,
    hostname, sysctl, firewall, keepalived, HAProxy, root password, SSH key
    and the console banner. The configs are checked with the real
    `haproxy -c` and `keepalived --config-test` when those are installed.

    \b
    Example:
      build-appliance render --env master.xml --out preview/master
    """
    from appliance_agent import pipeline
    from appliance_agent.transport import read_env_file

    from .profile import load_profile

    profile = load_profile(profile_path)
    out.mkdir(parents=True, exist_ok=True)
    result = pipeline.configure(
        read_env_file(str(env_path)),
        profile,
        root=str(out),
        check=not no_check,
        activate=False,
        log=lambda line: click.echo(line, err=True),
    )
    for path in result.changed:
        click.echo(path)
    if not result.changed:
        click.echo("nothing changed", err=True)


def main(argv=None):
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="build-appliance")
