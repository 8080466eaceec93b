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
        except BrokenPipeError:  # output piped into `head`: not an error
            sys.stderr.close()
            raise click.exceptions.Exit(0)
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


def source_date_epoch():
    """SOURCE_DATE_EPOCH (reproducible-builds.org) or the fixed default."""
    import os

    from .stages import DEFAULT_EPOCH

    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return DEFAULT_EPOCH
    if not value.isdigit():
        raise click.BadParameter("must be whole seconds since 1970", param_hint="SOURCE_DATE_EPOCH")
    return int(value)


class StageProgress:
    """One click progress bar per stage that reports bytes; silent when stderr is not a terminal."""

    def __init__(self, enabled):
        self.enabled = enabled
        self.bar = None
        self.label = None
        self.done = 0

    def __call__(self, label, done, total):
        if not self.enabled:
            return
        if label != self.label:
            self.close()
            self.label = label
            self.done = 0
            self.bar = click.progressbar(length=max(total, 1), label="writing %s" % label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(max(0, done - self.done))
        self.done = done

    def close(self):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@cli.command()
@click.option(
    "--iso",
    "iso_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Stock Photon OS 3.0, 4.0 or 5.0 installer ISO (full, or minimal plus --rpm-dir).",
)
@profile_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("dist"),
    show_default=True,
    help="Directory for the outputs and build-info.json.",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(["iso", "ova", "both"]),
    default="both",
    show_default=True,
    help="What to write.",
)
@click.option(
    "--rpm-dir",
    "rpm_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory of extra RPMs to add to the ISO's repository (repeatable).",
)
@click.option("--quiet", "-q", is_flag=True, help="Only print errors and the output paths.")
def build(iso_path, profile_path, out_dir, formats, rpm_dirs, quiet):
    """Build the appliance: an unattended-install ISO and an OVA.

    The ISO installs Photon with HAProxy, keepalived and the first-boot
    agent on any VM booted from it, with no key pressed. The OVA carries
    that ISO, an empty disk and the property form vCenter shows on deploy.
    Output is byte-identical for identical inputs (SOURCE_DATE_EPOCH sets
    the timestamps).

    \b
    Example:
      build-appliance build --iso photon-5.0-dde71ec57.x86_64.iso --out dist/
      build-appliance build --iso photon-minimal-5.0.iso --rpm-dir extra-rpms/ --format iso
    """
    from .profile import load_profile
    from .stages import BuildConfig
    from .stages import build as run_build

    config = BuildConfig(
        iso_path=iso_path,
        profile=load_profile(profile_path),
        profile_path=profile_path,
        out_dir=out_dir,
        formats=formats,
        rpm_dirs=tuple(rpm_dirs),
        epoch=source_date_epoch(),
    )
    progress = StageProgress(enabled=not quiet and sys.stderr.isatty())
    log = (lambda line: None) if quiet else (lambda line: (progress.close(), click.echo(line, err=True)))
    try:
        outputs = run_build(config, progress=progress, log=log)
    finally:
        progress.close()
    for output in outputs.values():
        click.echo(str(out_dir / output["file"]))
    click.echo(str(config.info_out))


@cli.command("inspect")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def inspect_command(path, as_json):
    """Show what is inside an appliance OVA or ISO (or a stock Photon ISO).

    For an OVA the manifest is verified against the members' bytes, the
    descriptor's hardware and property form are listed, and the installer
    ISO inside is opened in place. Exits 1 when a problem is found.

    \b
    Example:
      build-appliance inspect dist/photon-lb-1.0.0.ova
      build-appliance inspect --json dist/photon-lb-1.0.0.iso
    """
    from .inspect import inspect_path

    report = inspect_path(path)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print_report(report)
    problems = report.get("problems") or []
    if problems:
        raise ReportedError(problems)


def _print_report(report, indent=""):
    if report["type"] == "ova":
        click.echo("%sOVA %s (%d bytes), manifest %s" % (
            indent, report["file"], report["size"], "verified" if report["manifest_verified"] else "NOT verified"))
        for member in report["members"]:
            click.echo("%s  %-40s %12d  %s" % (indent, member["name"], member["size"], member["sha256"] or "-"))
        descriptor = report["descriptor"]
        for key in ("product", "version", "hardware", "disk", "transport"):
            if key in descriptor:
                click.echo("%s  %s: %s" % (indent, key, json.dumps(descriptor[key])))
        properties = descriptor.get("properties") or []
        click.echo("%s  property form: %d properties" % (indent, len(properties)))
        for prop in properties:
            click.echo("%s    %-28s %s" % (indent, prop.get("key"), prop.get("label")))
        if "iso" in report:
            _print_report(report["iso"], indent + "  ")
        return
    click.echo("%sISO %s (%d bytes): Photon OS %s %s, installer %s, label %s" % (
        indent, report["file"], report["size"], report["photon_release"], report["flavor"],
        report["installer"], report["volume_label"]))
    for entry in report["boot"]:
        click.echo("%s  boot %-5s %s" % (indent, entry["platform"], entry["image"]))
    if report.get("appliance") is None:
        for note in report.get("notes", []):
            click.echo("%s  %s" % (indent, note))
        return
    kickstart = report["kickstart"]
    click.echo("%s  kickstart: disk %s, kernel %s, root %s, %d packages" % (
        indent, kickstart["disk"], kickstart["linux_flavor"], kickstart["root_password"], len(kickstart["packages"])))
    appliance = report["appliance"]
    release = appliance.get("release") or {}
    click.echo("%s  appliance: %s %s (builder %s)" % (
        indent, release.get("appliance"), release.get("version"), release.get("builder_version")))
    for item in appliance["files"]:
        click.echo("%s    %-58s %6d  %s" % (indent, item["path"], item["size"], item["sha256"][:16]))


def main(argv=None):
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="build-appliance")
