"""Does a package list resolve in a repository? The Requires closure, computed from repodata.

Photon's installer (tdnf) fails late and vaguely on an unresolvable package
(vmware/photon#1391), so the build checks first and names what is missing
and who needs it. A requirement is met the way rpm matches it: by a
package's name and EVR, by a Provides (versioned ranges compared with rpm's
rpmverOverlap; an unversioned provide satisfies any version) or by a file
path the package contains. When several packages could meet a requirement
and none is chosen yet, the newest EVR wins (then name, arch and location,
so the answer is always the same).

Rich (boolean) dependencies (rpm >= 4.13) are followed for `and`, `or`,
`with` (as `and`), `without` (its left side), `if` and `unless` (with
`else`). A top-level conditional is decided once everything else is
chosen: `(A if B)` needs A only if something chosen provides B. This is an
approximation of a real solver, which would also weigh alternatives
against each other. Anything that does not parse as a rich dependency is
treated as satisfied: refusing a build over syntax this module does not
know would be worse than letting tdnf judge it.

Conflicts and Obsoletes are not considered, and a package needed in two
incompatible versions appears twice in the closure; both are for the real
resolver to sort out.
"""

from collections import deque
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Union

from .repodata import RepoPackage
from .rpmhdr import Dependency, compare_evr, parse_evr, ranges_overlap

WANTED_BY = "profile package list"
_OPERATORS = {"=": "EQ", "==": "EQ", "<": "LT", ">": "GT", "<=": "LE", "=<": "LE", ">=": "GE", "=>": "GE"}
_RICH_WORDS = ("and", "or", "if", "unless", "with", "without")


@dataclass(frozen=True)
class Missing:
    """A capability nothing in the repository provides, and the package that needs it."""

    capability: str
    needed_by: str


@dataclass(frozen=True)
class Rich:
    """A parsed rich dependency: `terms` joined by `operator`; for if/unless: (then, condition[, else])."""

    operator: str
    terms: tuple["Node", ...]
    text: str


Node = Union[Dependency, Rich]


class _Unparsed(Exception):
    pass


class _RichParser:
    """rpm's rich dependency syntax (rpmrichParse): '(' term op term [op term ...] ')'."""

    def __init__(self, text: str):
        self.text = text
        self.position = 0

    def parse(self) -> Rich:
        node = self._group()
        self._skip()
        if self.position != len(self.text) or not isinstance(node, Rich):
            raise _Unparsed(self.text)
        return node

    def _skip(self) -> None:
        while self.position < len(self.text) and self.text[self.position].isspace():
            self.position += 1

    def _peek(self) -> str:
        return self.text[self.position] if self.position < len(self.text) else ""

    def _group(self) -> Node:
        start = self.position
        self.position += 1  # the opening parenthesis
        terms = [self._term()]
        operator = None
        while True:
            self._skip()
            if self._peek() == ")":
                self.position += 1
                break
            word = self._word()
            if operator is None and word in _RICH_WORDS:
                operator = word
            elif word == "else" and operator in ("if", "unless") and len(terms) == 2:
                pass
            elif word != operator or operator in ("if", "unless", "without"):
                raise _Unparsed(self.text)  # rpm does not allow mixing operators without parentheses
            terms.append(self._term())
        if operator is None:
            return terms[0]
        return Rich(operator, tuple(terms), self.text[start : self.position])

    def _term(self) -> Node:
        self._skip()
        if self._peek() == "(":
            return self._group()
        name = self._name()
        self._skip()
        operator = ""
        while self._peek() in ("<", ">", "="):
            operator += self._peek()
            self.position += 1
        if not operator:
            return Dependency(name)
        if operator not in _OPERATORS:
            raise _Unparsed(self.text)
        self._skip()
        evr = self._word()
        epoch, version, release = parse_evr(evr)
        if not version:
            raise _Unparsed(self.text)
        return Dependency(name, _OPERATORS[operator], epoch, version, release)

    def _name(self) -> str:
        # Names may hold balanced parentheses: "perl(Carp)", "libc.so.6()(64bit)".
        start, depth = self.position, 0
        while self.position < len(self.text) and not self.text[self.position].isspace():
            char = self.text[self.position]
            if char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            self.position += 1
        if self.position == start:
            raise _Unparsed(self.text)
        return self.text[start : self.position]

    def _word(self) -> str:
        start = self.position
        while self.position < len(self.text) and not self.text[self.position].isspace() \
                and self.text[self.position] not in "()":
            self.position += 1
        if self.position == start:
            raise _Unparsed(self.text)
        return self.text[start : self.position]


def parse_requirement(text: str) -> Node:
    """A requirement from 'name', 'name >= 1.0', 'name = 1:2-3' or a rich '(a or b)'."""
    text = text.strip()
    if text.startswith("("):
        try:
            return _RichParser(text).parse()
        except _Unparsed:
            return Rich("unknown", (), text)
    words = text.split()
    if len(words) == 3 and words[1] in _OPERATORS:
        epoch, version, release = parse_evr(words[2])
        return Dependency(words[0], _OPERATORS[words[1]], epoch, version, release)
    return Dependency(text)


def _node(requirement: Dependency) -> Node:
    if requirement.name.startswith("(") and requirement.flags is None:
        return parse_requirement(requirement.name)
    return requirement


def _newest_first(one: RepoPackage, two: RepoPackage) -> int:
    return (-compare_evr(one.evr, two.evr) or (one.name > two.name) - (one.name < two.name)
            or (one.arch > two.arch) - (one.arch < two.arch)
            or (one.location_href > two.location_href) - (one.location_href < two.location_href))


class _Index:
    """Who offers what: package names (with their EVR), Provides, and file paths."""

    def __init__(self, packages: list[RepoPackage]):
        self.packages = packages
        self.offers: dict[str, list[tuple[RepoPackage, Dependency | None]]] = {}
        self.cache: dict[Dependency, list[RepoPackage]] = {}
        for package in packages:
            self._add(package.name, package, Dependency(package.name, "EQ", package.epoch or "0", package.version,
                                                        package.release))
            for provide in package.provides:
                self._add(provide.name, package, provide)
            for path in package.files:  # primary's paths; the full lists are searched only on a miss
                self._add(path, package, None)

    def _add(self, name: str, package: RepoPackage, offer: Dependency | None) -> None:
        self.offers.setdefault(name, []).append((package, offer))

    def providers(self, requirement: Dependency) -> list[RepoPackage]:
        """Packages meeting `requirement`, newest first."""
        if requirement not in self.cache:
            found = {id(package): package for package, offer in self.offers.get(requirement.name, ())
                     if offer is None or ranges_overlap(offer, requirement)}
            if not found and requirement.name.startswith("/"):
                # A file only filelists knows about (createrepo keeps primary to /etc and */bin/).
                found = {id(package): package for package in self.packages
                         if package.all_files is not None and requirement.name in package.all_files}
            self.cache[requirement] = sorted(found.values(), key=cmp_to_key(_newest_first))
        return self.cache[requirement]


class _Walk:
    """The closure of a wanted list: what gets chosen and what cannot be found."""

    def __init__(self, packages: list[RepoPackage]):
        self.index = _Index(list(packages))
        self.chosen: dict[int, RepoPackage] = {}
        self.missing: set[Missing] = set()
        self.queue: deque[tuple[Node, str]] = deque()
        self.deferred: list[tuple[Rich, str]] = []

    def run(self, wanted: list[str]) -> None:
        for text in wanted:
            self.queue.append((parse_requirement(text), WANTED_BY))
        while True:
            self._drain()
            if not self._settle_conditionals():
                return

    def _drain(self) -> None:
        while self.queue:
            node, needed_by = self.queue.popleft()
            if isinstance(node, Rich) and node.operator in ("if", "unless"):
                self.deferred.append((node, needed_by))
                continue
            picked = self._solve(node)
            if picked is None:
                self.missing.add(Missing(node.text if isinstance(node, Rich) else str(node), needed_by))
                continue
            for package in picked:
                self._choose(package)

    def _choose(self, package: RepoPackage) -> None:
        if id(package) in self.chosen:
            return
        self.chosen[id(package)] = package
        for requirement in package.requires:
            self.queue.append((_node(requirement), package.nevra))

    def _settle_conditionals(self) -> bool:
        """Queue the conditionals that can be decided now; False when none is left to decide."""
        ready = [(node, by) for node, by in self.deferred
                 if node.operator == "if" and self._holds(node.terms[1])]
        if not ready:
            # Nothing more will come true through what is chosen: take the else branches and the unless-es.
            ready = list(self.deferred)
        if not ready:
            return False
        self.deferred = [item for item in self.deferred if item not in ready]
        for node, needed_by in ready:
            branch = self._branch(node)
            if branch is not None:
                self.queue.append((branch, needed_by))
        return True

    def _branch(self, node: Rich) -> Node | None:
        """The term a conditional needs given what is chosen now (None: nothing needed)."""
        then, condition = node.terms[0], node.terms[1]
        otherwise = node.terms[2] if len(node.terms) > 2 else None
        holds = self._holds(condition)
        if node.operator == "if":
            return then if holds else otherwise
        return otherwise if holds else then  # unless

    def _holds(self, node: Node) -> bool:
        """Does something already chosen meet `node`?"""
        if isinstance(node, Dependency):
            return any(id(package) in self.chosen for package in self.index.providers(node))
        if node.operator == "or":
            return any(self._holds(term) for term in node.terms)
        if node.operator in ("and", "with"):
            return all(self._holds(term) for term in node.terms)
        return bool(node.terms) and self._holds(node.terms[0])

    def _solve(self, node: Node) -> list[RepoPackage] | None:
        """Packages to add so `node` is met ([] if it already is); None if it cannot be met."""
        if isinstance(node, Dependency):
            providers = self.index.providers(node)
            if not providers:
                return None
            return [] if any(id(package) in self.chosen for package in providers) else [providers[0]]
        if node.operator == "or":
            if any(self._holds(term) for term in node.terms):
                return []
            return next((found for found in map(self._solve, node.terms) if found is not None), None)
        if node.operator in ("and", "with"):
            picked: list[RepoPackage] = []
            for term in node.terms:
                found = self._solve(term)
                if found is None:
                    return None
                picked.extend(found)
            return picked
        if node.operator == "without":
            return self._solve(node.terms[0])
        if node.operator in ("if", "unless"):  # nested inside and/or: decided on what is chosen now
            branch = self._branch(node)
            return [] if branch is None else self._solve(branch)
        return []  # unknown syntax: satisfied (see the module docstring)


def _listing_order(one: RepoPackage, two: RepoPackage) -> int:
    return ((one.name > two.name) - (one.name < two.name) or (one.arch > two.arch) - (one.arch < two.arch)
            or compare_evr(one.evr, two.evr)
            or (one.location_href > two.location_href) - (one.location_href < two.location_href))


def closure(wanted: list[str], packages: list[RepoPackage]) -> list[RepoPackage]:
    """The packages installing `wanted` pulls in from `packages`, sorted by name, arch, EVR and location.

    What cannot be found is left out; check_closure() names it.
    """
    walk = _Walk(packages)
    walk.run(wanted)
    return sorted(walk.chosen.values(), key=cmp_to_key(_listing_order))


def check_closure(wanted: list[str], packages: list[RepoPackage]) -> list[Missing]:
    """What installing `wanted` needs that `packages` cannot provide; [] when everything resolves.

    A wanted name nothing has or provides is reported as needed by the
    "profile package list". The list is sorted by capability, then needer.
    """
    walk = _Walk(packages)
    walk.run(wanted)
    return sorted(walk.missing, key=lambda item: (item.capability, item.needed_by))
