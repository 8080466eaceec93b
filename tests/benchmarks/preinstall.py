#!/usr/bin/env python3
"""What `--preinstall` costs and gives, on the Photon stand-in (tests/standin).

    python3 tests/benchmarks/preinstall.py [--profile FILE] [--verify-runs N]
                                           [--full-iso PATH | --full-iso-bytes N] [--keep DIR]
                                           [--ova PREINSTALLED.ova]

Builds the stand-in installer ISO (its root from the cache, ~3 min when
fresh), then prints:

  preinstall   wall time of `build --format ova --preinstall` and of its
               install VM alone, with the accelerator the build chose (KVM
               when a tiny guest really boots under it, else TCG)
  first boot   per node, seconds from power-on of a VM made from the
               preinstalled disk to the self-test's READY (the agent
               configured the node; HAProxy and keepalived report active),
               and, for the node that took the VIPs, to "serving" (READY
               with every VIP held), from `verify`'s report; the guest's
               own uptime at READY and when the agent finished; failover
               seconds too. --ova times only this, on a preinstalled OVA.
  size         the preinstalled OVA against the ISO-carrying OVA of the
               same stand-in ISO, and against the ISO-carrying OVA a full
               Photon ISO gives (its size plus the same OVF/VMDK overhead)

Targets (issue 15): first boot to serving within 60 s under KVM; the
preinstalled OVA at most a quarter of the ISO-carrying OVA of a full ISO.
Not a test: it prints figures. Needs what scripts/test installs.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from builder.profile import load_profile  # noqa: E402
from builder.verify import verify  # noqa: E402
from tests.standin import standin_installer_iso, standin_root  # noqa: E402

CLI = [sys.executable, "-c", "import sys; from builder.cli import main; sys.exit(main(sys.argv[1:]))"]
# The figure for photon-5.0-dde71ec57.x86_64.iso, the full 5.0 ISO; --full-iso measures a real one.
FULL_ISO_BYTES = 4.6e9
MB = 1e6


def build(iso: Path, out: Path, profile: Path | None, *extra: str) -> float:
    command = CLI + ["build", "--iso", str(iso), "--format", "ova", "--out", str(out), "--quiet", *extra]
    if profile:
        command += ["--profile", str(profile)]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"build {' '.join(extra)} failed:\n{result.stderr[-3000:]}")
    return seconds


def the_ova(out: Path) -> Path:
    return next(out.glob("*.ova"))


def first_boots(ova: Path, profile, work_dir: Path, runs: int):
    for run in range(1, runs + 1):
        record = verify(ova, profile, logs=work_dir / f"verify-{run}").record()
        boots = []
        for role, times in record["first_boot"].items():
            line = f"{role} ready {times['ready_seconds']} s"
            if times["serving_seconds"] is not None:
                line += f", serving {times['serving_seconds']} s"
            boots.append(line + f" (guest: uptime {times['guest_uptime_at_ready_seconds']} s at ready, "
                                f"agent done at {times['guest_agent_done_seconds']} s)")
        failover = next((check["detail"] for check in record["checks"] if check["name"].startswith("failover")), "-")
        print(f"first boot {run} ({record['accelerator']}), from power-on: {'; '.join(boots)} "
              f"(target: serving within 60 s under KVM); failover: {failover}; "
              f"verify {record['seconds']:.0f} s, {'passed' if record['passed'] else 'FAILED'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", type=Path, help="appliance profile (default: the embedded one)")
    parser.add_argument("--verify-runs", type=int, default=1, help="pair boots to time (default 1)")
    parser.add_argument("--full-iso", type=Path, help="a real full Photon ISO, for its size")
    parser.add_argument("--full-iso-bytes", type=float, default=FULL_ISO_BYTES)
    parser.add_argument("--keep", type=Path, help="work here and leave the outputs")
    parser.add_argument("--ova", type=Path, help="only time first boots, of this preinstalled OVA")
    args = parser.parse_args()
    full_iso_bytes = args.full_iso.stat().st_size if args.full_iso else args.full_iso_bytes
    profile = load_profile(args.profile)

    work_dir = args.keep or Path(tempfile.mkdtemp(prefix="preinstall-bench-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    if args.ova:
        first_boots(args.ova, profile, work_dir, args.verify_runs)
        return
    iso = standin_installer_iso(work_dir / "standin-iso", standin_root())
    print(f"stand-in installer ISO: {iso.stat().st_size / MB:.0f} MB")

    preinstalled_out = work_dir / "preinstalled"
    wall = build(iso, preinstalled_out, args.profile, "--preinstall")
    install = json.loads((preinstalled_out / "build-info.json").read_text())["install"]
    print(f"preinstall: build {wall:.0f} s wall, of which the install VM {install['seconds']:.0f} s "
          f"({install['accelerator']}: {install['accelerator_reason']})")

    carrying_out = work_dir / "iso-carrying"
    carrying_wall = build(iso, carrying_out, args.profile)
    preinstalled, carrying = (the_ova(out).stat().st_size for out in (preinstalled_out, carrying_out))
    overhead = carrying - iso.stat().st_size
    full_carrying = full_iso_bytes + overhead
    print(f"ISO-carrying build: {carrying_wall:.0f} s wall")
    print(f"size: preinstalled OVA {preinstalled / MB:.0f} MB; ISO-carrying OVA of the stand-in ISO "
          f"{carrying / MB:.0f} MB ({preinstalled / carrying:.2f}x); of a full ISO "
          f"({full_iso_bytes / 1e9:.1f} GB) {full_carrying / MB:.0f} MB ({preinstalled / full_carrying:.2f}x, "
          f"target at most 0.25x)")

    first_boots(the_ova(preinstalled_out), profile, work_dir, args.verify_runs)
    if args.keep:
        print(f"outputs kept in {work_dir}")
    else:
        subprocess.run(["rm", "-rf", str(work_dir)], check=False)


if __name__ == "__main__":
    main()
