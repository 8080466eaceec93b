"""Errors of the agent, grouped by who has to act on them."""


class AgentError(Exception):
    """Base class: something the admin can fix; printed as one line, no traceback."""


class ProfileError(AgentError):
    """The appliance profile (baked in at build time) is malformed."""


class EnvironmentReadError(AgentError):
    """No OVF environment could be read, or it is not an OVF environment."""


class ValidationError(AgentError):
    """One or more property values are wrong.

    `problems` holds (key, message) pairs; each message says what is wrong
    and how to fix it.
    """

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join("%s: %s" % p for p in self.problems))

    def lines(self):
        """One line per problem, naming the property key first."""
        return ["%s: %s" % (key, message) for key, message in self.problems]


class ConfigCheckError(AgentError):
    """A rendered config was rejected by its daemon's own checker."""


class ApplyError(AgentError):
    """Writing the files failed; the previous files were put back."""
