"""`appliance-agent`: configure this node from its OVF environment.

Run by appliance-agent.service at every boot. On any error the previous
configuration stays in place and the reason goes to the console and the
journal; nothing half-written is left behind.
"""

import argparse
import json
import os
import re
import sys

from . import __version__, pipeline, status
from .errors import AgentError, ValidationError
from .limits import printable
from .profile import Profile
from .transport import CD_WAIT_SECONDS, read_environment

DEFAULT_PROFILE = "/etc/appliance/profile.json"


def _log(line):
    print("appliance-agent: %s" % line, flush=True)


def _error(line):
    print("appliance-agent: ERROR: %s" % line, file=sys.stderr, flush=True)


def _seconds(text):
    if not re.fullmatch(r"[0-9]{1,3}", text):
        raise argparse.ArgumentTypeError("%r is not a number of seconds (0-999)" % text)
    return int(text)


def load_profile_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise AgentError("%s: no such file; the image was built without its profile" % path)
    except ValueError as exc:
        raise AgentError("%s is not valid JSON (%s)" % (path, exc))
    return Profile.from_dict(data)


def apply(args):
    profile = load_profile_json(args.profile)
    failure = pipeline.install_failure(args.root)
    if failure:
        _error("the install of this appliance failed: %s; see /var/log/appliance-install.log" % failure)
    source, xml_text = read_environment(args.env, log=_log, cd_wait=args.cd_wait)
    if xml_text is None:
        configured = os.path.exists(os.path.join(args.root, pipeline.STATE_FILE))
        message = (
            "no OVF environment found (VMware Tools guestinfo.ovfEnv, ovf-env.xml on a CD); "
            "deploy the OVA through vCenter with its properties, or run: appliance-agent apply --env FILE"
        )
        if configured:
            _log(message + "; keeping the current configuration")
            return 0
        _error(message)
        return 1
    _log("reading properties from %s" % source)
    result = pipeline.configure(
        xml_text, profile, root=args.root, check=not args.no_check, activate=_live(args), log=_log
    )
    for path in result.changed:
        _log("wrote /%s" % path)
    summary = "%s node configured: %d file(s) changed%s" % (
        result.role, len(result.changed), ", reloaded " + ", ".join(result.reloaded) if result.reloaded else "")
    _log(summary)
    _record(args, True, summary, result.role)
    return 0


def _live(args):
    """Running on the node itself (not on a preview root): daemons reload, results are published."""
    return not args.no_activate and args.root == "/"


def _record(args, ok, message, role=None):
    """On the live node: keep the result for `report`, and report it now (at boot the network is
    not up yet; appliance-report.service sends it once it is)."""
    if not _live(args):
        return
    try:
        status.record_apply(args.root, ok, message, role)
        status.report(args.root)
    except OSError as exc:
        _log("warning: the apply result was not recorded (%s)" % (exc.strerror or exc))


def report(args):
    """Console banner, guestinfo.appliance.*, and the last apply result to the syslog servers."""
    done = status.report(args.root, log=_log)
    _log("report: %s" % (", ".join(done) if done else "nothing new"))
    return 0


def selftest(args):
    from . import selftest as observer

    _source, xml_text = read_environment(args.env)
    return observer.main(xml_text, load_profile_json(args.profile))


def build_parser():
    parser = argparse.ArgumentParser(prog="appliance-agent", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command")
    apply_parser = commands.add_parser("apply", help="configure this node from its OVF properties")
    apply_parser.add_argument("--env", metavar="FILE", help="read the OVF environment from FILE instead of VMware Tools or a CD")
    apply_parser.add_argument(
        "--cd-wait", type=_seconds, default=CD_WAIT_SECONDS, metavar="SECONDS",
        help="when VMware Tools has no environment, wait this long for a CD device to appear (default %(default)s)",
    )
    apply_parser.add_argument("--root", default="/", metavar="DIR", help="write the files under DIR (default /); daemons are reloaded only for /")
    apply_parser.add_argument("--profile", default=DEFAULT_PROFILE, metavar="FILE", help="appliance profile JSON (default %(default)s)")
    apply_parser.add_argument("--no-check", action="store_true", help="skip haproxy -c and keepalived --config-test")
    apply_parser.add_argument("--no-activate", action="store_true", help="write files only; reload nothing")
    report_parser = commands.add_parser("report", help="refresh the console banner and publish the node's state (appliance-report.service)")
    report_parser.add_argument("--root", default="/", metavar="DIR", help=argparse.SUPPRESS)
    selftest_parser = commands.add_parser("selftest", help="report this node's state on the serial port "
                                          "(only when the hidden property appliance.selftest asks)")
    selftest_parser.add_argument("--env", metavar="FILE", help="read the OVF environment from FILE")
    selftest_parser.add_argument("--profile", default=DEFAULT_PROFILE, metavar="FILE")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "report":
        return report(args)
    if args.command == "selftest":
        try:
            return selftest(args)
        except AgentError as exc:
            _error(str(exc))
            return 1
    if args.command != "apply":
        build_parser().print_help()
        return 2
    try:
        return apply(args)
    except ValidationError as exc:
        for line in exc.lines():
            _error(line)
        _error("the previous configuration stays in place; correct the vApp properties in vCenter and reboot")
        _record(args, False, "; ".join(exc.lines()))
        return 1
    except AgentError as exc:
        _error(str(exc))
        _error("the previous configuration stays in place")
        _record(args, False, str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one line on the console, the node keeps its configuration
        if os.environ.get("APPLIANCE_AGENT_DEBUG"):
            raise
        _error("internal error: %s: %s (set APPLIANCE_AGENT_DEBUG=1 for the traceback)" % (type(exc).__name__, printable(str(exc), 200)))
        _error("the previous configuration stays in place")
        return 70
