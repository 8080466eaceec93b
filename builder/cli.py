"""The `build-appliance` command line. Only this module imports click.

Commands translate between the command line and the library; library
errors (builder.errors, appliance_agent.errors) become one-line messages
and exit status 1 here, flag problems exit 2, and a traceback is shown only
with --debug.
"""

import contextlib
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
            message = " ".join(str(exc).split())
            if len(message) > 300:  # never a long value whole
                message = message[:300] + "..."
            raise ReportedError(
                ["internal error: %s: %s (run again with --debug for the traceback)" % (type(exc).__name__, message)]
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
    # lazy: fast --help
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
    # lazy: fast --help
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
    # lazy: fast --help
    from appliance_agent import pipeline
    from appliance_agent.transport import read_env_file

    from .profile import load_profile

    profile = load_profile(profile_path)
    # No mkdir here: the agent creates OUT with the first file it writes and removes
    # what it created when it fails, so a refused render leaves no empty OUT behind.
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

    # lazy: fast --help
    from .stages import DEFAULT_EPOCH

    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return DEFAULT_EPOCH
    if not value.isdigit():
        raise click.BadParameter("must be whole seconds since 1970", param_hint="SOURCE_DATE_EPOCH")
    return int(value)


class ProgressBars:
    """One click progress bar per labelled task ("iso", a file name); silent when stderr is not
    a terminal or the total is unknown. Library code only calls it as progress(label, done, total)."""

    def __init__(self, enabled, verb):
        self.enabled = enabled
        self.verb = verb
        self.bar = None
        self.label = None
        self.done = 0

    def __call__(self, label, done, total):
        if not self.enabled or not total:
            return
        if label != self.label:
            self.close()
            self.label = label
            self.done = 0
            self.bar = click.progressbar(length=total, label="%s %s" % (self.verb, label), file=sys.stderr)
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
    default=None,
    help="Stock Photon OS 3.0, 4.0 or 5.0 installer ISO (full, or minimal plus --rpm-dir).",
)
@click.option("--photon", "release", default=None, metavar="RELEASE",
              help="Instead of --iso: download (or take from the cache) the official ISO of this release.")
@click.option("--flavor", type=click.Choice(["minimal", "full"]), default="full", show_default=True,
              help="With --photon: which official ISO.")
@click.option("--iso-sha256", default=None, metavar="HEX", help="With --photon: the expected SHA-256.")
@click.option("--iso-sha512", default=None, metavar="HEX", help="With --photon: the expected SHA-512.")
@click.option("--fetch-missing", is_flag=True,
              help="Download the RPMs (and dependencies) the ISO lacks from the release's repositories.")
@click.option("--repo-url", "repo_urls", multiple=True, metavar="URL",
              help="With --fetch-missing: repositories to read instead of the official ones (repeatable).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Download cache (default: $BUILD_APPLIANCE_CACHE, else $XDG_CACHE_HOME or ~/.cache).")
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
@click.option("--checksum", is_flag=True,
              help="Also write SHA256SUMS for the outputs (one more SHA-256 pass over each; "
                   "the OVA's own manifest is always there).")
@click.option("--quiet", "-q", is_flag=True, help="Only print errors and the output paths.")
@click.option("--mirror", default=None, metavar="URL",
              help="Base URL laid out like https://packages.broadcom.com/photon (env BUILD_APPLIANCE_MIRROR).")
@click.option("--preinstall", is_flag=True,
              help="Install the appliance in a local qemu VM now; the OVA carries the installed disk and no ISO "
                   "(needs qemu; KVM when it works, else software emulation).")
@click.option("--install-time-limit", type=click.IntRange(min=10), default=3600, show_default=True,
              metavar="SECONDS", help="With --preinstall: give up on the install after this long.")
@click.option("--verify", "verify_after", is_flag=True,
              help="Then boot a MASTER and a BACKUP from the OVA in local VMs and check the pair "
                   "(as `build-appliance verify`); the build fails if a check fails.")
def build(iso_path, release, flavor, iso_sha256, iso_sha512, fetch_missing, repo_urls, cache_dir, profile_path,
          out_dir, formats, rpm_dirs, checksum, quiet, mirror, preinstall, install_time_limit, verify_after):
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
      build-appliance build --photon 5.0 --flavor minimal --iso-sha256 HEX --fetch-missing
    """
    # lazy: fast --help
    from .profile import load_profile
    from .stages import BuildConfig, FetchOptions
    from .stages import build as run_build

    if (iso_path is None) == (release is None):
        raise click.UsageError("give exactly one of --iso FILE and --photon RELEASE")
    if iso_sha256 and iso_sha512:
        raise click.BadParameter("give one of --iso-sha256 and --iso-sha512", param_hint="--iso-sha512")
    fetch = FetchOptions(release=release, flavor=flavor, mirror=mirror, repo_urls=tuple(repo_urls),
                         cache_dir=cache_dir, checksum=("sha256", iso_sha256) if iso_sha256 else
                         ("sha512", iso_sha512) if iso_sha512 else None)
    if release is not None:
        # lazy: fast --help
        from .fetch.download import Checksum
        from .fetch.inputs import fetch_iso

        checksum = Checksum.of(*fetch.checksum, "--iso-" + fetch.checksum[0]) if fetch.checksum else None
        iso_path = _run_download(quiet, lambda progress, log: fetch_iso(
            release, flavor, cache_dir, progress, mirror=mirror, checksum=checksum, log=log))

    config = BuildConfig(
        iso_path=iso_path,
        profile=load_profile(profile_path),
        profile_path=profile_path,
        out_dir=out_dir,
        formats=formats,
        checksum=checksum,
        rpm_dirs=tuple(rpm_dirs),
        epoch=source_date_epoch(),
        fetch_missing=fetch_missing,
        fetch=fetch,
        preinstall=preinstall,
        install_time_limit=float(install_time_limit),
    )
    progress = ProgressBars(enabled=not quiet and sys.stderr.isatty(), verb="writing")
    log = (lambda line: None) if quiet else (lambda line: (progress.close(), click.echo(line, err=True)))
    try:
        with _terminate_as_interrupt():
            outputs = run_build(config, progress=progress, log=log)
    finally:
        progress.close()
    for output in outputs.values():
        click.echo(str(out_dir / output["file"]))
    click.echo(str(config.info_out))
    if checksum:
        click.echo(str(config.sums_out))
    if verify_after:
        if "ova" not in outputs:
            raise click.UsageError("--verify checks the OVA: use --format ova or both")
        _verify_and_report(config.ova_out, config.profile, out_dir / f"{config.base_name}-verify",
                           quiet=quiet, install_time_limit=float(install_time_limit), info=config.info_out)


def _verify_and_report(ova, profile, logs, *, quiet, install_time_limit, firmware=None, info=None):
    # lazy: fast --help; qemu is needed only here
    from .verify import verify

    log = (lambda line: None) if quiet else (lambda line: click.echo(line, err=True))
    result = verify(ova, profile, logs=logs, firmware=firmware, install_time_limit=install_time_limit, log=log)
    for check in result.checks:
        click.echo(check.line())
    click.echo(f"{'passed' if result.passed else 'FAILED'}: {sum(c.passed for c in result.checks)} of "
               f"{len(result.checks)} checks ({result.accelerator.name}, {result.seconds:.0f} s); console logs in {logs}")
    if info is not None and info.exists():
        data = json.loads(info.read_text())
        data["verify"] = result.record()
        temporary = info.with_name(".build-info.json.partial")
        temporary.write_text(json.dumps(data, indent=2) + "\n")
        temporary.replace(info)
    if not result.passed:
        raise click.exceptions.Exit(1)


@cli.command("verify")
@click.argument("ova", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@profile_option
@click.option("--firmware", type=click.Choice(["bios", "efi"]), default=None,
              help="Boot the VMs with this firmware (default: the OVA's).")
@click.option("--logs", "logs", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for the VMs' console logs (default: beside the OVA, <name>-verify/).")
@click.option("--install-time-limit", type=click.IntRange(min=10), default=3600, show_default=True,
              metavar="SECONDS", help="For an OVA that carries the installer ISO: the install's time limit.")
@click.option("--quiet", "-q", is_flag=True, help="Only print the checks.")
def verify_command(ova, profile_path, firmware, logs, install_time_limit, quiet):
    """Boot a MASTER and a BACKUP node from the OVA in local VMs and check the pair.

    Checks, one by one: the agent applied each node; HAProxy and keepalived
    run under systemd from the rendered files; exactly one node holds the
    VIPs; stopping HAProxy on the holder moves them to the peer within the
    failover target; a broken environment on reboot keeps the last good
    configuration and says why. Exit 0 only when all hold. Needs qemu; an
    OVA that carries the installer ISO is installed first.

    \b
    Example:
      build-appliance verify dist/photon-lb-1.0.0.ova
    """
    from .profile import load_profile

    logs = logs or ova.with_name(ova.name.removesuffix(".ova") + "-verify")
    _verify_and_report(ova, load_profile(profile_path), logs, quiet=quiet, firmware=firmware,
                       install_time_limit=float(install_time_limit))


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM (systemd, CI timeouts, kill) unwinds like Ctrl-C, so the build removes its partial files."""
    import signal

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    # lazy: fast --help
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


# ---------------------------------------------------------------- fetch-iso, fetch-rpms (issue 7)
# Downloading the official inputs; the work is in builder/fetch/.

mirror_option = click.option(
    "--mirror",
    default=None,
    metavar="URL",
    help="Base URL laid out like https://packages.broadcom.com/photon (default; env BUILD_APPLIANCE_MIRROR).",
)


def _run_download(quiet, work):
    """Run `work(progress, log)` with a progress bar on a terminal and log lines unless quiet."""
    progress = ProgressBars(enabled=not quiet and sys.stderr.isatty(), verb="downloading")
    log = (lambda line: None) if quiet else (lambda line: (progress.close(), click.echo(line, err=True)))
    try:
        return work(progress, log)
    finally:
        progress.close()


@cli.command("fetch-iso")
@click.option("--photon", "release", required=True, metavar="RELEASE", help="Photon OS release: 3.0, 4.0 or 5.0.")
@click.option("--flavor", type=click.Choice(["minimal", "full"]), default="full", show_default=True,
              help="full has HAProxy and keepalived; minimal needs fetch-rpms (or build --fetch-missing).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache directory (default: $BUILD_APPLIANCE_CACHE, else $XDG_CACHE_HOME or ~/.cache).")
@mirror_option
@click.option("--iso-url", default=None, metavar="URL", help="Download from here instead of the pinned URL.")
@click.option("--iso-sha256", default=None, metavar="HEX", help="Expected SHA-256 (from VMware's download page).")
@click.option("--iso-sha512", default=None, metavar="HEX", help="Expected SHA-512 (from VMware's download page).")
@click.option("--quiet", "-q", is_flag=True, help="Only print errors and the ISO's path.")
def fetch_iso_command(release, flavor, cache_dir, mirror, iso_url, iso_sha256, iso_sha512, quiet):
    """Download the official Photon OS installer ISO, verify it and cache it.

    Prints the path of the verified ISO. A second run answers from the
    cache without touching the network. An interrupted download resumes
    where it stopped when run again; nothing unverified is ever kept under
    the ISO's name.

    \b
    Example:
      build-appliance fetch-iso --photon 5.0 --iso-sha512 HEX_FROM_VMWARE_PAGE
      build-appliance fetch-iso --photon 5.0 --flavor minimal --iso-sha256 HEX --cache-dir /srv/cache
    """
    # lazy: fast --help
    from .fetch.download import Checksum
    from .fetch.inputs import fetch_iso

    if iso_sha256 and iso_sha512:
        raise click.BadParameter("give one of --iso-sha256 and --iso-sha512", param_hint="--iso-sha512")
    checksum = None
    if iso_sha256 or iso_sha512:
        algorithm = "sha256" if iso_sha256 else "sha512"
        checksum = Checksum.of(algorithm, iso_sha256 or iso_sha512, "--iso-" + algorithm)
    path = _run_download(quiet, lambda progress, log: fetch_iso(
        release, flavor, cache_dir, progress, mirror=mirror, iso_url=iso_url, checksum=checksum, log=log))
    click.echo(str(path))


@cli.command("fetch-rpms")
@click.option("--photon", "release", required=True, metavar="RELEASE", help="Photon OS release: 3.0, 4.0 or 5.0.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory for the RPMs (then: build --rpm-dir DIR).")
@click.option("--iso", "iso_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The ISO the build starts from: what it has is not downloaded.")
@click.option("--repo-url", "repo_urls", multiple=True, metavar="URL",
              help="Repository to read instead of the release's official ones (repeatable; http(s) or file).")
@mirror_option
@profile_option
@click.option("--quiet", "-q", is_flag=True, help="Only print errors and the RPMs' paths.")
@click.argument("packages", nargs=-1)
def fetch_rpms_command(release, out_dir, iso_path, repo_urls, mirror, profile_path, quiet, packages):
    """Download the RPMs an ISO lacks for the appliance, with their dependencies.

    PACKAGES default to the profile's [photon] packages. Their Requires
    closure is resolved against the ISO's own repository and the release's
    online repositories; only what the ISO lacks is downloaded, each RPM
    checked against the repository's digest. Prints the RPMs' paths.

    \b
    Example:
      build-appliance fetch-rpms --photon 5.0 --iso photon-minimal-5.0.iso --out extra-rpms/
      build-appliance fetch-rpms --photon 5.0 --out extra/ --repo-url file:///mnt/mirror/photon_updates_5.0_x86_64 haproxy
    """
    # lazy: fast --help
    from .buildconfig import photon_settings
    from .fetch.inputs import fetch_rpms, iso_packages
    from .profile import load_profile

    wanted = list(packages) or list(photon_settings(load_profile(profile_path)).install_packages)
    on_iso = iso_packages(iso_path) if iso_path else []
    if iso_path is None and not quiet:
        click.echo("no --iso: every package of the closure is downloaded", err=True)
    paths = _run_download(quiet, lambda progress, log: fetch_rpms(
        release, wanted, on_iso, out_dir, list(repo_urls) or None, progress, mirror=mirror, log=log))
    for path in paths:
        click.echo(str(path))


def main(argv=None):
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="build-appliance")
