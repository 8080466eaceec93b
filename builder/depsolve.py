"""Does a package list resolve in a repository? The Requires closure, computed from repodata.

Photon's installer (tdnf) fails late and vaguely on an unresolvable package
(vmware/photon#1391), so the build checks first and names what is missing
and who needs it. Requirements are matched the way rpm does: by package
name, by Provides (versioned comparisons with rpm's EVR order; an
unversioned provide satisfies any version) and by file path. When several
packages satisfy a requirement the newest is chosen, as tdnf would.

Rich (boolean) dependencies, "(a or b)", "(a and b)", "(a if b)", are
handled for and/or/if/unless; anything stranger is treated as satisfied,
because refusing a build on syntax we do not understand would be worse.
"""

import re
from collections import deque
from dataclasses import dataclass

from .repodata import RepoPackage
from .rpmhdr import Dependency, compare_evr, parse_evr

_CHECKS = {
    "EQ": lambda result: result == 0,
    "LT": lambda result: result < 0,
    "GT": lambda result: result > 0,
    "LE": lambda result: result <= 0,
    "GE": lambda result: result >= 0,
}


@dataclass(frozen=True)
class Missing:
    capability: str
    needed_by: str


class Repository:
    """An index of what a set of packages provides."""

    def __init__(self, packages: list[RepoPackage]):
        self.packages = list(packages)
        self.by_capability: dict[str, list[tuple[RepoPackage, Dependency | None]]] = {}
        for package in self.packages:
            self._add(package.name, package, Dependency(package.name, "EQ", package.epoch, package.version,
                                                        package.release))
            for provide in package.provides:
                self._add(provide.name, package, provide)
            for path in package.files:
                self._add(path, package, None)

    def _add(self, name: str, package: RepoPackage, provide: Dependency | None) -> None:
        self.by_capability.setdefault(name, []).append((package, provide))

    def providers(self, requirement: Dependency) -> list[RepoPackage]:
        """Packages satisfying `requirement`, newest first."""
        found = []
        for package, provide in self.by_capability.get(requirement.name, ()):
            if _satisfies(provide, requirement) and package not in found:
                found.append(package)
        found.sort(key=lambda package: _EvrKey(package.evr), reverse=True)
        return found


class _EvrKey:
    def __init__(self, evr):
        self.evr = evr

    def __lt__(self, other):
        return compare_evr(self.evr, other.evr) < 0

    def __eq__(self, other):
        return compare_evr(self.evr, other.evr) == 0


def _satisfies(provide: Dependency | None, requirement: Dependency) -> bool:
    if requirement.flags is None or provide is None or provide.flags is None:
        return True  # unversioned on either side (or a file): any version will do
    wanted = (requirement.epoch or "0", requirement.version or "", requirement.release or "")
    offered = (provide.epoch or "0", provide.version or "", provide.release or "")
    result = compare_evr(offered, wanted)
    if provide.flags == "EQ":
        return _CHECKS[requirement.flags](result)
    # A ranged provide ("foo >= 2") overlaps a range requirement in the same direction.
    if provide.flags in ("GE", "GT") and requirement.flags in ("GE", "GT"):
        return True
    if provide.flags in ("LE", "LT") and requirement.flags in ("LE", "LT"):
        return True
    return _CHECKS[requirement.flags](result)


def _requirement(text: str) -> Dependency:
    """A dependency from 'name', 'name >= 1.0' or 'name = 1:2-3'."""
    match = re.fullmatch(r"\s*(\S+)\s*(=|==|<|>|<=|>=)?\s*(\S+)?\s*", text)
    if not match or (match.group(2) and not match.group(3)):
        return Dependency(text.strip())
    name, operator, evr = match.groups()
    if not operator:
        return Dependency(name)
    epoch, version, release = parse_evr(evr)
    flags = {"=": "EQ", "==": "EQ", "<": "LT", ">": "GT", "<=": "LE", ">=": "GE"}[operator]
    return Dependency(name, flags, epoch or "0", version, release)


def _rich_terms(name: str) -> tuple[str, list[str]] | None:
    """('or'|'and'|'if'|'unless', terms) for a rich dependency "(a or b)", else None."""
    if not (name.startswith("(") and name.endswith(")")):
        return None
    inner = name[1:-1]
    depth, terms, current, operator = 0, [], "", None
    for word in re.split(r"(\s+|\(|\))", inner):
        if word == "(":
            depth += 1
        elif word == ")":
            depth -= 1
        if depth == 0 and word.strip() in ("or", "and", "if", "unless", "with", "without", "else"):
            operator = operator or word.strip()
            terms.append(current.strip())
            current = ""
            continue
        current += word
    terms.append(current.strip())
    return (operator or "and"), [term for term in terms if term]


def _walk(wanted: list[str], packages: list[RepoPackage]) -> tuple[list[RepoPackage], list[Missing]]:
    """The packages installing `wanted` pulls in, and what cannot be resolved (breadth first)."""
    repository = Repository(packages)
    chosen: list[RepoPackage] = []
    missing: set[Missing] = set()
    queue = deque((_requirement(name), "profile package list") for name in wanted)
    resolved: dict[Dependency, object] = {}
    for _ in range(1_000_000):  # a bound on the walk; real repositories stay far below it
        if not queue:
            break
        requirement, needed_by = queue.popleft()
        if requirement in resolved:
            if resolved[requirement] is None:
                missing.add(Missing(str(requirement), needed_by))
            continue
        provider = _resolve(repository, requirement, chosen)
        resolved[requirement] = provider
        if provider is None:
            missing.add(Missing(str(requirement), needed_by))
        elif provider is not True and provider not in chosen:
            chosen.append(provider)
            queue.extend((dependency, provider.nevra) for dependency in provider.requires)
    return chosen, sorted(missing, key=lambda item: (item.capability, item.needed_by))


def closure(wanted: list[str], packages: list[RepoPackage]) -> list[RepoPackage]:
    """The packages installing `wanted` pulls in (what a resolver would install)."""
    return _walk(wanted, packages)[0]


def _resolve(repository: Repository, requirement: Dependency, chosen: list[RepoPackage]):
    """A package for `requirement` (preferring one already chosen), True if trivially met, None if not."""
    rich = _rich_terms(requirement.name)
    if rich is not None:
        operator, terms = rich
        dependencies = [_requirement(term) for term in terms]
        if operator == "or":
            for dependency in dependencies:
                found = _resolve(repository, dependency, chosen)
                if found is not None:
                    return found
            return None
        if operator in ("if", "unless"):
            return _resolve(repository, dependencies[0], chosen) if dependencies else True
        if operator == "and":
            results = [_resolve(repository, dependency, chosen) for dependency in dependencies]
            if any(result is None for result in results):
                return None
            return next((result for result in results if result is not True), True)
        return True
    providers = repository.providers(requirement)
    if not providers:
        return None
    for provider in providers:
        if provider in chosen:
            return provider
    return providers[0]


def check_closure(wanted: list[str], packages: list[RepoPackage]) -> list[Missing]:
    """What `wanted` needs that `packages` cannot provide (empty: everything resolves)."""
    return _walk(wanted, packages)[1]
