#!/usr/bin/env python3
"""Benchmark: `build-appliance build` against xorriso and cp on Photon-layout ISOs of real size.

Makes fixture ISOs of about 1 GB and 4 GB (Photon layout, incompressible
4 MiB filler files standing in for RPMs), then runs, interleaved round by
round (A B A B):
  build --format iso | --format ova | --format both (first builds: empty cache),
  build --format iso and --format both again (the base ISO's digest remembered by an earlier build),
  xorriso remastering the same ISO with the same edits
    (-boot_image any replay plus -map of the files our build changes),
  cp of the base ISO, and two cps of it back to back,
recording wall time and peak RSS of each run (GNU time), and prints the
median and fastest round of each, the ratios the project tracks (ISO build
/ xorriso, ISO+OVA build / (2 x cp)) and peak RSS at 1 GB vs 4 GB.

Not a test: run it by hand (needs the tools scripts/test installs, about
30 GB free under --workdir, and a few minutes):
    python3 tests/benchmarks/build_speed.py --sizes 1 4 --rounds 2
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.iso import fixtures  # noqa: E402
from tests.iso.conftest import BASE_PACKAGES, LB_PACKAGES, _build_packages  # noqa: E402

CLI = [sys.executable, "-c", "from builder.cli import main; main()"]
# The files our build adds or changes, mapped by xorriso for the same result.
CHANGED = ["/appliance/ks.json", "/appliance/payload.tar", "/isolinux/isolinux.cfg", "/isolinux/menu.cfg",
           "/boot/grub2/grub.cfg"]


def settle(cold: bool) -> None:
    """Flush the previous run's dirty pages (and with --cold, empty the page cache) before a run."""
    os.sync()
    if cold:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")


def timed(command, cwd=None, env=None):
    """(wall seconds, peak RSS in MiB) of one command, measured by GNU time."""
    with tempfile.NamedTemporaryFile("r") as report:
        started = time.monotonic()
        result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report.name, *map(str, command)],
                                cwd=cwd, capture_output=True, text=True, env=env)
        wall = time.monotonic() - started
        if result.returncode != 0:
            raise SystemExit(f"{command[0]} failed: {result.stderr[-1000:]}")
        return wall, int(report.read().strip().splitlines()[-1]) / 1024


def make_base_iso(workdir: Path, size_gb: float, rpms) -> Path:
    target = workdir / f"base-{size_gb:g}g"
    iso = target / "photon-5.0-fixture.iso"
    if iso.exists():
        return iso
    target.mkdir(parents=True, exist_ok=True)
    print(f"making a {size_gb:g} GB Photon-layout ISO ...", flush=True)
    made = fixtures.make_photon_iso(target, release="5.0", rpms=rpms, filler_bytes=int(size_gb * 2**30))
    shutil.rmtree(target / "tree")
    return made


def xorriso_inputs(built_iso: Path, workdir: Path) -> list[str]:
    """-map arguments replaying our build's edits with xorriso."""
    from builder.iso.image import IsoImage

    arguments = []
    with IsoImage(built_iso) as image:
        for path in CHANGED:
            local = workdir / path.strip("/").replace("/", "_")
            local.write_bytes(image.read(path))
            arguments += ["-map", str(local), path]
    return arguments


def run(args):
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rpm_dir = workdir / "rpms"
    if not rpm_dir.exists():
        rpm_dir.mkdir()
    rpms = sorted(_build_packages(rpm_dir, dict(BASE_PACKAGES, **LB_PACKAGES), "ph5").values())
    results: dict[tuple[float, str], list[tuple[float, float]]] = {}
    for size in args.sizes:
        base = make_base_iso(workdir, size, rpms)
        out = workdir / "out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        # Every timed build is a first build (an empty cache: the base ISO is hashed) except
        # the "again" builds, whose cache remembers the base ISO's digest from this untimed
        # build, which also gives the edited files for xorriso.
        fresh_cache, warm_cache = workdir / "cache-fresh", workdir / "cache-again"
        shutil.rmtree(warm_cache, ignore_errors=True)
        subprocess.run(CLI + ["build", "-q", "--iso", str(base), "--out", str(out), "--format", "iso"], check=True,
                       env=dict(os.environ, BUILD_APPLIANCE_CACHE=str(warm_cache)))
        maps = xorriso_inputs(out / "photon-lb-1.0.0.iso", workdir)
        runs = {
            "build iso": CLI + ["build", "-q", "--iso", base, "--out", out, "--format", "iso"],
            "build iso again": CLI + ["build", "-q", "--iso", base, "--out", out, "--format", "iso"],
            "build ova": CLI + ["build", "-q", "--iso", base, "--out", out, "--format", "ova"],
            "build both": CLI + ["build", "-q", "--iso", base, "--out", out, "--format", "both"],
            "build both again": CLI + ["build", "-q", "--iso", base, "--out", out, "--format", "both"],
            "xorriso": ["xorriso", "-indev", base, "-outdev", out / "xorriso.iso", "-boot_image", "any", "replay",
                        *maps, "-commit"],
            "cp": ["cp", base, out / "copy.iso"],
            # Two copies back to back, as `both` writes twice the ISO's size in one go
            # (the second copy meets the dirty-page limit the first one filled).
            "cp twice": ["sh", "-c", 'cp "$1" "$2" && cp "$1" "$3"', "cp-twice", base,
                         out / "copy1.iso", out / "copy2.iso"],
        }
        for round_number in range(args.rounds):
            for name, command in runs.items():
                for leftover in out.iterdir():
                    leftover.unlink()
                shutil.rmtree(fresh_cache, ignore_errors=True)
                cache = warm_cache if name.endswith("again") else fresh_cache
                settle(args.cold)
                wall, rss = timed(command, env=dict(os.environ, BUILD_APPLIANCE_CACHE=str(cache)))
                results.setdefault((size, name), []).append((wall, rss))
                print(f"  {size:g} GB round {round_number + 1} {name:15s} {wall:7.2f} s {rss:7.1f} MiB", flush=True)
        shutil.rmtree(out)
    report(results, args)


def report(results, args):
    """Median and fastest of the rounds: on a shared VM the noise only ever adds time, so the
    fastest round is the steadier figure; both are printed, and the ratios from each."""

    def wall(size, name, pick):
        return pick(item[0] for item in results[(size, name)])

    def rss(size, name):
        return max(item[1] for item in results[(size, name)])

    print()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
          f"Python {platform.python_version()}; "
          f"{'page cache dropped before each run (cold)' if args.cold else 'files in the page cache (warm)'}, "
          f"{args.rounds} rounds")
    print(f"{'size':>5} {'run':15} {'median s':>9} {'fastest s':>10} {'slowest s':>10} {'peak RSS MiB':>13}")
    for (size, name) in results:
        print(f"{size:>4g}G {name:15} {wall(size, name, statistics.median):9.2f} {wall(size, name, min):10.2f} "
              f"{wall(size, name, max):10.2f} {rss(size, name):13.1f}")
    print()
    for size in args.sizes:
        for label, pick in (("median", statistics.median), ("fastest", min)):
            iso_ratio = wall(size, "build iso", pick) / wall(size, "xorriso", pick)
            both_ratio = wall(size, "build both", pick) / (2 * wall(size, "cp", pick))
            both_twice = wall(size, "build both", pick) / wall(size, "cp twice", pick)
            print(f"{size:g} GB ({label}): ISO build / xorriso = {iso_ratio:.2f} (target <= 0.7); "
                  f"ISO+OVA build / (2 x cp) = {both_ratio:.2f}, / (cp twice) = {both_twice:.2f} "
                  f"(target <= 1.5)")
            print(f"{size:g} GB ({label}): with the base digest remembered: ISO build / xorriso = "
                  f"{wall(size, 'build iso again', pick) / wall(size, 'xorriso', pick):.2f}; "
                  f"ISO+OVA build / (2 x cp) = {wall(size, 'build both again', pick) / (2 * wall(size, 'cp', pick)):.2f}, "
                  f"/ (cp twice) = {wall(size, 'build both again', pick) / wall(size, 'cp twice', pick):.2f}")
    if len(args.sizes) > 1:
        low, high = min(args.sizes), max(args.sizes)
        print(f"peak RSS of build both: {rss(low, 'build both'):.1f} MiB at {low:g} GB, "
              f"{rss(high, 'build both'):.1f} MiB at {high:g} GB (target < 100 MiB, flat)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 4], help="ISO sizes in GB")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workdir", default="/var/tmp/build-appliance-bench")
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each run (root)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
