#!/usr/bin/env python3
"""Benchmark: the agent's SHA-512 crypt against password length, and what the agent refuses first.

The $6$ scheme hashes the password once per character (Drepper's spec, steps
13-15), so its work is quadratic in the length by design; only memory can be
linear. Prints, per length, seconds and peak traced memory of
shacrypt.sha512_crypt, then how long the agent takes to refuse a password
of that length (the form's MaxLen(128) applies before any hashing).

Not a test: run it by hand (about half a minute):
    PYTHONPATH=scripts python3 tests/benchmarks/crypt_cost.py --lengths 128 1000 20000 60000
"""

import argparse
import time
import tracemalloc

from appliance_agent import shacrypt
from appliance_agent.form import base_form


def measure(function):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        function()
    finally:
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return elapsed, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 1000, 20000, 60000])
    args = parser.parse_args()
    root_password = [p for p in base_form() if p.key == "node.root_password"][0]
    print("%10s %12s %14s %16s" % ("length", "crypt s", "crypt peak MB", "agent refuses s"))
    for length in args.lengths:
        password = "p" * length
        seconds, peak = measure(lambda: shacrypt.sha512_crypt(password, "saltsalt"))

        def parse():
            try:
                root_password.parse(password)
            except ValueError:
                pass

        refused, _ = measure(parse)
        print("%10d %12.3f %14.2f %16.6f" % (length, seconds, peak / 1e6, refused))


if __name__ == "__main__":
    main()
