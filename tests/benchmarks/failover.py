#!/usr/bin/env python3
"""Failover benchmark: our rendered pair against the blog recipe's pair, same topology, same faults.

    sudo python3 tests/benchmarks/failover.py [-n 5] [--fault kill-haproxy ...] [--config ours ...]

For each config (ours: `build-appliance render` for MASTER and BACKUP;
recipe: tests/pair/recipe, its `kill -0 haproxy` emulated with Photon's
semantics; recipe-verbatim: the same with the post's own check line, which
fails on Debian whether HAProxy runs or not) and each fault on the node holding the VIPs
(SIGKILL of every HAProxy process, SIGTERM to keepalived, its switch port
down), repeated N times, a client probes https://<Horizon VIP>/ back to back
(250 ms timeout each) and the script reports:

  outage    time from the fault to the end of the first successful probe
            after the first failed one (0 when no probe failed); "never"
            when service did not come back within --limit seconds
  failed    probes that failed in between
  both      samples (every 100 ms) in which both nodes held a VIP, from the
            fault until the pair settled again after the fault was undone

Between repetitions the fault is undone and the pair left to converge (ours
keeps the VIPs where they went: nopreempt; the recipe preempts them back).
Not a test: it prints figures; it needs root and the tools scripts/test installs.
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.pair import netns  # noqa: E402

OURS_VIPS = ("192.0.2.20", "192.0.2.21", "192.0.2.22", "192.0.2.23")
HORIZON_VIP = "192.0.2.21"
FAULTS = {
    "kill-haproxy": (lambda node: node.kill_haproxy(), lambda node: node.start_haproxy()),
    "stop-keepalived": (lambda node: node.stop_keepalived(), lambda node: node.start_keepalived()),
    "cut-link": (lambda node: node.cut_link(), lambda node: node.restore_link()),
}


class Prober:
    """Back-to-back HTTPS requests through the VIP from the client; every attempt is recorded."""

    def __init__(self, client, timeout=0.25):
        self.client = client
        self.timeout = timeout
        self.records = []  # (start, end, ok)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        while not self._stop.is_set():
            start = time.monotonic()
            ok = self.client.backend(HORIZON_VIP, 443, timeout=self.timeout) is not None
            end = time.monotonic()
            self.records.append((start, end, ok))
            self._stop.wait(0.02)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)

    def outage(self, fault_at, limit):
        """(seconds to recovery or None, failed probes) for a fault at fault_at; waits up to limit seconds."""
        deadline = fault_at + limit
        while time.monotonic() < deadline:
            after = [record for record in list(self.records) if record[0] >= fault_at]
            first_failure = next((index for index, record in enumerate(after) if not record[2]), None)
            if first_failure is None:
                if len(after) >= 4 and all(record[2] for record in after):
                    return 0.0, 0  # the service never stopped
            else:
                recovered = next((record for record in after[first_failure:] if record[2]), None)
                if recovered is not None:
                    failed = sum(1 for record in after if not record[2] and record[0] < recovered[0])
                    return recovered[1] - fault_at, failed
            time.sleep(0.05)
        after = [record for record in list(self.records) if record[0] >= fault_at]
        return None, sum(1 for record in after if not record[2])


def boot(topology, config):
    """A running pair of `config` ("ours" or "recipe") on the topology."""
    work = topology.workdir / config
    if config == "ours":
        roots = [netns.render_node(role, work / role.lower()) for role in ("MASTER", "BACKUP")]
        vips = OURS_VIPS
    else:
        verbatim = config == "recipe-verbatim"
        roots = [netns.recipe_root(label, work / label, verbatim_check=verbatim) for label in ("lb1", "lb2")]
        vips = netns.RECIPE_VIPS
    nodes = [topology.add_node(label, root) for label, root in zip(("lb1", "lb2"), roots)]
    pair = netns.Pair(nodes[0], nodes[1], vips)
    pair.wait_converged(timeout=40, stable=3)
    return pair


def settle(pair, quiet, timeout=60):
    """Wait until the pair is converged, no node is in FAULT, and neither logged a VRRP state change for `quiet` s.

    The recipe preempts: after a fault is undone its MASTER-role node takes
    the VIPs back some seconds later (2 s check interval, then 3 x 1 s
    adverts), and the next fault must not start before that.
    """
    deadline = time.monotonic() + timeout
    counts, changed = None, time.monotonic()
    while time.monotonic() < deadline:
        states = [node.vrrp_states() for node in pair.nodes]
        now = [len(entries) for entries in states]
        if now != counts:
            counts, changed = now, time.monotonic()
        elif (
            time.monotonic() - changed >= quiet
            and all(entries and entries[-1] != "FAULT" for entries in states)
            and pair.holder() is not None
        ):
            return pair.holder()
        time.sleep(0.2)
    raise netns.TopologyError("the pair did not settle within %ss" % timeout)


def run_config(topology, config, faults, repeat, limit, log):
    """{fault: [(outage or None, failed, both-samples), ...]} for one config."""
    results = {fault: [] for fault in faults}
    pair = boot(topology, config)
    prober = Prober(topology.client).start()
    sampler = netns.Sampler(pair).start()
    try:
        for fault in faults:
            inject, undo = FAULTS[fault]
            for attempt in range(repeat):
                try:
                    holder = pair.wait_converged(timeout=40, stable=3)
                except netns.TopologyError as exc:
                    log("  %s: the pair did not converge (%s); rebooting it" % (config, exc))
                    sampler.stop()
                    topology.remove_nodes()
                    pair = boot(topology, config)
                    sampler = netns.Sampler(pair).start()
                    holder = pair.wait_converged(timeout=40, stable=3)
                fault_at = time.monotonic()
                inject(holder)
                outage, failed = prober.outage(fault_at, limit)
                undo(holder)
                try:
                    settle(pair, quiet=3 if config == "ours" else 8)
                except netns.TopologyError as exc:
                    log("  %s: %s" % (config, exc))  # the next run reboots the pair if it stays unconverged
                # From the fault until the pair settled again, recovery included.
                both = len(sampler.overlaps_since(fault_at))
                results[fault].append((outage, failed, both))
                log(
                    "  %-15s %-15s #%d on %s: %s, %d failed probes, %d samples with a VIP on both"
                    % (config, fault, attempt + 1, holder.hostname,
                       "never (>%ss)" % limit if outage is None else "%.2fs" % outage, failed, both)
                )  # fmt: skip
    finally:
        prober.stop()
        sampler.stop()
        topology.remove_nodes()
    return results


def summary(rows):
    times = [row[0] for row in rows if row[0] is not None]
    never = sum(1 for row in rows if row[0] is None)
    median = "%.2f" % statistics.median(times) if times else "-"
    worst = "%.2f" % max(times) if times else "-"
    failed = [row[1] for row in rows]
    return median, worst, never, sum(failed), sum(row[2] for row in rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--repeat", type=int, default=5, help="repetitions of each fault (default 5)")
    parser.add_argument("--fault", action="append", choices=sorted(FAULTS), help="fault(s) to inject (default: all)")
    parser.add_argument("--config", action="append", choices=("ours", "recipe", "recipe-verbatim"),
                        help="config(s) to run (default: ours and recipe)")
    parser.add_argument("--limit", type=float, default=15.0, help="seconds to wait for service to return (default 15)")
    args = parser.parse_args(argv)
    reason = netns.netns_unavailable_reason()
    if reason:
        parser.exit(2, "failover: %s\n" % reason)
    missing = netns.missing_tools()
    if missing:
        parser.exit(2, "failover: missing %s (scripts/test installs them)\n" % ", ".join(missing))
    faults = args.fault or ["kill-haproxy", "stop-keepalived", "cut-link"]
    configs = args.config or ["ours", "recipe"]

    def log(line):
        print(line, file=sys.stderr, flush=True)

    results = {}
    with tempfile.TemporaryDirectory(prefix="failover-bench-") as work:
        topology = netns.Topology(Path(work))
        try:
            topology.build()
            for config in configs:
                log("%s:" % config)
                results[config] = run_config(topology, config, faults, args.repeat, args.limit, log)
        finally:
            topology.destroy()

    print("\nFault to the first connection served through the Horizon VIP, %d runs each (seconds)" % args.repeat)
    header = "%-16s %-15s %7s %7s %7s %8s %6s" % ("fault", "config", "median", "max", "never", "failed", "both")
    print(header)
    print("-" * len(header))
    for fault in faults:
        for config in configs:
            median, worst, never, failed, both = summary(results[config][fault])
            print("%-16s %-15s %7s %7s %7d %8d %6d" % (fault, config, median, worst, never, failed, both))
    print("\nnever: runs with no service within %.0fs; failed: failed probes (250 ms timeout) in all runs;" % args.limit)
    print("both: 100 ms samples, in all runs, in which both nodes held a VIP.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
