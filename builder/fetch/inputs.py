"""Get the build's inputs from the network: the official ISO (cached) and the RPMs an ISO lacks.

`fetch_iso` downloads the pinned installer ISO into the cache once and
answers from the cache afterwards. `fetch_rpms` reads the release's online
repositories, resolves the Requires closure of the wanted packages against
what the ISO already has plus those repositories, and downloads only what
the ISO lacks, each package verified against the digest in the metadata.
Both are plain functions so `build --photon/--fetch-missing` can call them.

Progress callbacks here take `(label, done, total)` (the label is the file
name), the signature of cli.ProgressBars; total is 0 when the server does not say.
"""

import re
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator
from urllib.parse import urljoin

from ..errors import InvalidArtifact, InvalidInput
from ..iso.image import IsoImage
from ..repo.depsolve import check_closure, closure
from ..repo.repodata import NS_COMMON, RepoPackage, parse_repodata
from . import sources
from .cache import Cache
from .download import DEFAULT_TIMEOUT, Checksum, download, fetch_bytes

LabelledProgress = Callable[[str, int, int], None]
Log = Callable[[str], None]
ARCHES = ("x86_64", "noarch")  # what an x86_64 install can use; repos may also list src
MAX_SHOWN = 20  # missing capabilities named in one message


def _quiet(_line: str) -> None:
    pass


def _labelled(progress: LabelledProgress | None, label: str):
    if progress is None:
        return None
    return lambda done, total: progress(label, done, total or 0)


# ---------------------------------------------------------------- the ISO

def fetch_iso(
    release: str,
    flavor: str = "full",
    cache: Cache | Path | None = None,
    progress: LabelledProgress | None = None,
    *,
    mirror: str | None = None,
    iso_url: str | None = None,
    checksum: Checksum | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    log: Log = _quiet,
) -> Path:
    """The official installer ISO for `release`/`flavor`, verified, from the cache or downloaded into it.

    `cache` is a Cache, a directory, or None for the default (cache.cache_dir).
    `iso_url` and `checksum` replace the pinned URL and digest (sources.iso_source
    says which releases have a usable pin). A cached file with the right digest
    is returned without any network access.
    """
    source = sources.iso_source(release, flavor, mirror=mirror, iso_url=iso_url, checksum=checksum)
    cache = cache if isinstance(cache, Cache) else Cache.at(cache)
    dest = cache.iso_path(source.file_name)
    if cache.is_verified(dest, source.checksum):
        log(f"{source.file_name}: in the cache ({dest.parent}), {source.checksum.algorithm} verified")
        return dest
    cache.ensure(dest)
    log(f"downloading {source.url}")
    download(source.url, dest, source.checksum, progress=_labelled(progress, source.file_name), timeout=timeout)
    cache.mark_verified(dest, source.checksum)
    log(f"{source.file_name}: {source.checksum.algorithm} verified, cached in {dest.parent}")
    return dest


@contextmanager
def iso_repo_reader(iso_path: Path) -> Iterator[Callable[[str], bytes]]:
    """A `read(relpath)` for the ISO's repository (/RPMS/<relpath>, Rock Ridge names), while open."""
    with IsoImage(iso_path) as image:

        def read(relpath: str) -> bytes:
            path = "/RPMS/" + relpath.lstrip("/")
            if path not in image.files():
                raise InvalidArtifact(f"{iso_path}: {path} is missing; is this a Photon OS installer ISO?")
            return image.read(path)

        yield read


def iso_packages(iso_path: Path) -> list[RepoPackage]:
    """The packages in an installer ISO's /RPMS repository."""
    with iso_repo_reader(iso_path) as read:
        return parse_repodata(read)


# ---------------------------------------------------------------- online repositories

def repo_packages(repo_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[RepoPackage]:
    """The packages of an online (or file://) repository, read from repomd.xml and primary."""
    base = repo_url if repo_url.endswith("/") else repo_url + "/"

    def read(relpath: str) -> bytes:
        return fetch_bytes(urljoin(base, relpath), timeout=timeout)

    # Online filelists and changelogs are tens of MB; primary already lists the /etc and
    # */bin/ paths that Requires name (createrepo puts them there for that), so it is enough.
    return parse_repodata(read, filelists=False, other=False)


def _capability_names(capability: str) -> set[str]:
    """The names in a missing capability: 'foo >= 1.2' -> {foo}; '(a or b)' -> {a, b}."""
    if capability.startswith("("):
        words = re.findall(r"[^\s()]+", capability)
        return {word for word in words if word not in ("and", "or", "if", "unless", "with", "without", "else")
                and not re.fullmatch(r"[<>=]+|[\d.:~^+-][\w.:~^+-]*", word)}
    return {capability.split()[0]} if capability.split() else set()


def _offers(package: RepoPackage, names: set[str]) -> bool:
    return (package.name in names or any(provide.name in names for provide in package.provides)
            or any(path in names for path in package.files))


def plan_rpms(wanted: list[str], iso: list[RepoPackage],
              online: list[tuple[str, RepoPackage]]) -> list[tuple[str, RepoPackage]]:
    """Which online packages to download, as (repository URL, package), so that `wanted` installs.

    The ISO's own packages are preferred: an online package whose name is
    on the ISO is used only when a requirement needs it (a newer version
    than the ISO's). Raises InvalidInput naming each missing capability and
    who needs it.
    """
    iso_names = {package.name for package in iso}
    seen: set[str] = set()
    candidates = []
    for url, package in online:
        if package.arch in ARCHES and package.nevra not in seen:
            seen.add(package.nevra)
            candidates.append((url, package))
    admitted: set[str] = set()  # ISO package names whose online versions may be used
    for _ in range(len(candidates) + 1):  # each round admits a name or stops
        pool = iso + [package for _, package in candidates
                      if package.name not in iso_names or package.name in admitted]
        missing = check_closure(list(wanted), pool)
        if not missing:
            break
        needed = set().union(*(_capability_names(item.capability) for item in missing))
        newly = {package.name for _, package in candidates
                 if package.name in iso_names and package.name not in admitted and _offers(package, needed)}
        if not newly:
            shown = "; ".join(f"{item.capability} (needed by {item.needed_by})" for item in missing[:MAX_SHOWN])
            more = f"; and {len(missing) - MAX_SHOWN} more" if len(missing) > MAX_SHOWN else ""
            raise InvalidInput(
                f"{len(missing)} requirement(s) are in neither the ISO nor the repositories: {shown}{more}; "
                "check the package names, --photon and --repo-url"
            )
        admitted |= newly
    on_iso = {id(package) for package in iso}
    source = {id(package): url for url, package in candidates}
    chosen = [package for package in closure(list(wanted), pool) if id(package) not in on_iso]
    return sorted(((source[id(package)], package) for package in chosen), key=lambda item: item[1].location_href)


def _size(package: RepoPackage) -> int:
    element = package.primary.find(f"{{{NS_COMMON}}}size") if package.primary is not None else None
    value = element.get("package", "") if element is not None else ""
    return int(value) if value.isdigit() else 0


def fetch_rpms(
    release: str,
    wanted: list[str],
    iso_packages: list[RepoPackage],
    out_dir: Path,
    repo_urls: list[str] | None = None,
    progress: LabelledProgress | None = None,
    *,
    mirror: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    log: Log = _quiet,
) -> list[Path]:
    """Download into `out_dir` the packages `wanted` needs that `iso_packages` lacks; their paths.

    `repo_urls` default to the release's official repositories (sources.repo_urls).
    Each RPM is verified against its repodata digest; files already in
    `out_dir` with the right digest are not fetched again. The result is
    ready for `build --rpm-dir out_dir`.
    """
    sources.check_release(release)
    urls = list(repo_urls) if repo_urls else sources.repo_urls(release, mirror)
    online: list[tuple[str, RepoPackage]] = []
    for url in urls:
        url = url if url.endswith("/") else url + "/"
        log(f"reading {url}repodata/repomd.xml")
        online.extend((url, package) for package in repo_packages(url, timeout=timeout))
    plan = plan_rpms(wanted, iso_packages, online)
    if not plan:
        log("nothing to download: the ISO has every package needed")
        return []
    total = sum(_size(package) for _, package in plan)
    log(f"{len(plan)} package(s) the ISO lacks ({total / 1048576:.1f} MiB): "
        + ", ".join(package.name for _, package in plan))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"--out {out_dir}: cannot be created ({exc.strerror})")
    paths = []
    for url, package in plan:
        name = PurePosixPath(package.location_href).name
        try:
            checksum = Checksum.of(*package.checksum, what=f"{url}repodata: {package.nevra}")
        except InvalidInput as exc:  # the repository's metadata is at fault, not the user
            raise InvalidArtifact(str(exc))
        paths.append(download(urljoin(url, package.location_href), out_dir / name, checksum,
                              progress=_labelled(progress, name), timeout=timeout))
    return paths
