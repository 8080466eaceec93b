"""`appliance-agent`: configure this node from its OVF environment.

Run by appliance-agent.service at every boot. On any error the previous
configuration stays in place and the reason goes to the console and the
journal; nothing half-written is left behind.
"""

import argparse
import json
import os
import sys

from . import __version__, pipeline
from .errors import AgentError, ValidationError
from .profile import Profile
from .transport import read_environment

DEFAULT_PROFILE = "/etc/appliance/profile.json"


def _log(line):
    print("appliance-agent: %s" % line, flush=True)


def _error(line):
    print("appliance-agent: ERROR: %s" % line, file=sys.stderr, flush=True)


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
    source, xml_text = read_environment(args.env, log=_log)
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
        xml_text, profile, root=args.root, check=not args.no_check, activate=not args.no_activate and args.root == "/", log=_log
    )
    for path in result.changed:
        _log("wrote /%s" % path)
    _log("%s node configured: %d file(s) changed%s" % (
        result.role, len(result.changed), ", reloaded " + ", ".join(result.reloaded) if result.reloaded else ""))
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
    apply_parser.add_argument("--root", default="/", metavar="DIR", help="write the files under DIR (default /); daemons are reloaded only for /")
    apply_parser.add_argument("--profile", default=DEFAULT_PROFILE, metavar="FILE", help="appliance profile JSON (default %(default)s)")
    apply_parser.add_argument("--no-check", action="store_true", help="skip haproxy -c and keepalived --config-test")
    apply_parser.add_argument("--no-activate", action="store_true", help="write files only; reload nothing")
    selftest_parser = commands.add_parser("selftest", help="report this node's state on the serial port "
                                          "(only when the hidden property appliance.selftest asks)")
    selftest_parser.add_argument("--env", metavar="FILE", help="read the OVF environment from FILE")
    selftest_parser.add_argument("--profile", default=DEFAULT_PROFILE, metavar="FILE")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
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
        return 1
    except AgentError as exc:
        _error(str(exc))
        _error("the previous configuration stays in place")
        return 1
    except KeyboardInterrupt:
        return 130
