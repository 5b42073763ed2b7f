#!/usr/bin/python3
"""Prints pv-score CHAIR summaries as the paper's table.

    table.py NAME=SUMMARY.json ...

Each SUMMARY.json is the one-line summary pv-score --summary writes. Output:
CHAIR_s, CHAIR_i and recall in percent, mean length in words, one row per NAME.
"""
import json
import sys


def pct(x):
    return "   -" if x is None else "%5.1f" % (100.0 * x)


def main():
    print("%-22s %7s %7s %7s %7s %5s" % ("model", "CHAIR_s", "CHAIR_i", "recall", "length", "n"))
    for arg in sys.argv[1:]:
        name, _, path = arg.partition("=")
        with open(path) as f:
            s = json.loads(f.readline())
        print("%-22s %7s %7s %7s %7.1f %5d" % (name, pct(s["chair_s"]), pct(s["chair_i"]),
                                               pct(s["recall"]), s["mean_words"], s["n"]))


if __name__ == "__main__":
    main()
