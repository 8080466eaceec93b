"""Errors of the builder, typed by who is at fault. Only cli.py turns them into exit codes."""


class BuildError(Exception):
    """Base class; never raised directly."""


class InvalidInput(BuildError):
    """The user's input (profile, flags, files) is wrong."""


class InvalidArtifact(BuildError):
    """A file we read (ISO, RPM, VMDK, repodata, OVA) is malformed or not what it claims."""


class ToolError(BuildError):
    """An external command failed."""

    def __init__(self, command, returncode, stderr):
        self.command = list(command)
        self.returncode = returncode
        self.stderr = stderr
        tail = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
        super().__init__("%s exited with %s: %s" % (self.command[0], returncode, tail))


class InternalError(BuildError):
    """A broken invariant: a bug in this tool."""
