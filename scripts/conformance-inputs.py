#!/usr/bin/env python3
"""Writes the input files of the SQL conformance suite (tests/conformance/*/input/*.jsonl).

The inputs are committed; this script is how they were made, and remakes them byte for byte
(a fixed xorshift generator, no dependence on Python's `random`). Plain Python 3, no packages.

usage: conformance-inputs.py [CASE ...]      (default: every case listed in INPUTS)

After changing an input, regenerate the expected outputs with conformance-expected.sh.
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(ROOT, "tests", "conformance")
# 2024-01-01 00:00:00 UTC in epoch milliseconds.
BASE = 1_704_067_200_000


class Rng:
    """xorshift64: the same numbers on every machine and Python version."""

    def __init__(self, seed):
        self.s = seed or 1

    def next(self):
        s = self.s
        s ^= (s << 13) & 0xFFFF_FFFF_FFFF_FFFF
        s ^= s >> 7
        s ^= (s << 17) & 0xFFFF_FFFF_FFFF_FFFF
        self.s = s
        return s

    def below(self, n):
        return (self.next() >> 11) % n

    def pick(self, items):
        return items[self.below(len(items))]

    def chance(self, percent):
        return self.below(100) < percent


def products():
    """Rows for the stateless cases: every column type the suite reads, NULLs (explicit and
    missing fields), and strings that need CSV quoting (commas, quotes, spaces, symbols)."""
    names = ["widget", "Gadget Pro", "bolt, hex", 'the "best" nut', "", "Ünïcödé", "x+y",
             "50% off", "(paren)", "#tag", "-dash", "trailing ", " leading", "a'b", "tab\there"]
    categories = ["tools", "toys", "food", None]
    rng = Rng(11)
    rows = []
    for i in range(1, 61):
        row = {
            "id": i,
            "name": names[i % len(names)] if i % 13 else None,
            "category": rng.pick(categories),
            "price": round(rng.below(100_000) / 100, 2) if i % 11 else None,
            "qty": rng.below(40) - 10,
            "weight": rng.below(5000) / 1000,
            "active": rng.chance(60),
            "ts": BASE + i * 1_250 + rng.below(1000),
        }
        if i % 7 == 0:
            del row["qty"]  # a missing field reads as NULL
        if i % 17 == 0:
            row["active"] = None
        if i == 5:
            row["price"] = 0.0
        if i == 6:
            row["price"] = -12.5
        rows.append(row)
    return rows


def clicks(n=1500, seed=7, gap=(24_000, 41_000)):
    """Rows for the window cases: about 60 s of clicks by 6 users, 40 ms apart, each up to
    1.5 s out of order (within the 2 s watermark bound, so none is late), with no event in
    the `gap` (milliseconds after BASE) so that some windows are empty. Some pages and
    latencies are NULL."""
    users = ["u0", "u1", "u2", "u3", "u4", "u5"]
    pages = ["/", "/cart", "/item", "/search", None]
    statuses = [200, 200, 200, 201, 304, 404, 500]
    rng = Rng(seed)
    rows = []
    for i in range(n):
        t = i * 40 - rng.below(1500) if i > 40 else i * 40
        if gap[0] <= t < gap[1]:
            continue
        rows.append({
            "ts": BASE + t,
            "user": users[min(rng.below(6), rng.below(6))],  # skewed towards u0
            "page": rng.pick(pages),
            "latency": None if rng.chance(5) else rng.below(20_000) / 8,
            "bytes_out": rng.below(100_000),
            "status": rng.pick(statuses),
            "region": rng.pick(["eu", "us", "ap"]),
        })
    return rows


def late_clicks():
    """In-order clicks (10 ms apart over 41 s), then rows that arrive late, then more
    in-order rows. The late rows start at line 4101, so the watermark of every earlier line
    has passed before they are read (Spate advances its watermark per 4096-line batch of
    the file, Flink per row). Watermark bound 2 s: when the late rows arrive, the watermark
    is about 38.9 s after BASE; the 10 s windows ending at 10, 20 and 30 s have fired."""
    rng = Rng(23)
    rows = []
    for i in range(4100):
        rows.append({"ts": BASE + i * 10, "user": f"u{rng.below(3)}", "amount": rng.below(100)})
    late = [
        (1_000, "u0"),    # window [0 s, 10 s): fired long ago, dropped
        (15_500, "u1"),   # [10 s, 20 s): dropped
        (29_999, "u2"),   # [20 s, 30 s): its last millisecond, dropped
        (31_000, "u0"),   # [30 s, 40 s): 8 s behind but its window is open, counted
        (36_900, "u1"),   # [30 s, 40 s): counted
        (12_000, "u9"),   # a key seen only late: no window at all
    ]
    for t, user in late:
        rows.append({"ts": BASE + t, "user": user, "amount": 1000})
    for i in range(4100, 4800):
        rows.append({"ts": BASE + i * 10, "user": f"u{rng.below(3)}", "amount": rng.below(100)})
    return rows


def late_in_batch():
    """Payments 100 ms apart over 20 s, with two late rows among them: at 3 s (window
    [0 s, 10 s) fired when the watermark passed 10 s, at 12 s) and at 9.5 s for a user seen
    nowhere else."""
    rng = Rng(29)
    rows = [{"ts": BASE + i * 100, "user": f"u{rng.below(2)}", "amount": rng.below(100)}
            for i in range(200)]
    rows.insert(150, {"ts": BASE + 3_000, "user": "u0", "amount": 1000})
    rows.insert(190, {"ts": BASE + 9_500, "user": "late", "amount": 1000})
    return rows


def boundary():
    """Payments 5 ms apart up to 20.47 s (lines 1 to 4095), one at 21.999 s (line 4096), and
    from line 4097 on: a row at 15 s (window [10 s, 20 s), whose last millisecond 19.999 s
    the watermark has reached), one at 20 s (window [20 s, 30 s), open), then rows 22 s to
    25 s."""
    rng = Rng(31)
    rows = [{"ts": BASE + i * 5, "user": f"u{rng.below(2)}", "amount": rng.below(100)}
            for i in range(4095)]
    rows.append({"ts": BASE + 21_999, "user": "u0", "amount": 1})
    rows.append({"ts": BASE + 15_000, "user": "late", "amount": 1000})
    rows.append({"ts": BASE + 20_000, "user": "ontime", "amount": 1000})
    rows.extend({"ts": BASE + 22_000 + i * 10, "user": f"u{rng.below(2)}",
                 "amount": rng.below(100)} for i in range(300))
    return rows


def sparse():
    """A few bursts of events far apart: most windows are empty."""
    rows = []
    rng = Rng(5)
    for burst_start in [0, 2_000, 61_000, 62_500, 185_000]:
        for j in range(rng.below(5) + 2):
            rows.append({"ts": BASE + burst_start + j * 300, "sensor": rng.pick(["a", "b"]),
                         "reading": rng.below(4000) / 8})
    return rows


def subsecond():
    """Events 37 ms apart over 6 s, for windows of fractions of a second."""
    rng = Rng(3)
    return [{"ts": BASE + i * 37, "device": rng.pick(["d1", "d2"]), "value": rng.below(50)}
            for i in range(160)]


def sessions():
    """Per-user activity with silences shorter than the 5 s session gap (one session) and
    longer than it (two sessions)."""
    rng = Rng(41)
    times = {
        "alice": [0, 200, 400, 4_000, 9_500, 30_000, 30_100],
        "bob": [1_000, 5_999, 20_000, 24_999],
        "carol": [2_000, 2_200, 7_199, 40_000, 45_001],
    }
    rows = [{"ts": BASE + t, "user": user, "clicks": rng.below(10)}
            for user, ts in times.items() for t in ts]
    rows.sort(key=lambda r: (r["ts"], r["user"]))
    return rows


def touching_sessions():
    """Events exactly one session gap (5 s) apart, and 1 ms more than that."""
    times = {"alice": [0, 5_000, 10_000], "bob": [1_000, 6_001], "carol": [2_000, 7_000, 12_001]}
    rows = [{"ts": BASE + t, "user": user, "clicks": 1} for user, ts in times.items() for t in ts]
    rows.sort(key=lambda r: (r["ts"], r["user"]))
    return rows


def seconds():
    """Epoch seconds (TO_TIMESTAMP_LTZ(ts, 0)), one reading every 7 s over an hour."""
    rng = Rng(17)
    return [{"epoch": BASE // 1000 + i * 7, "station": rng.pick(["north", "south"]),
             "temp": (rng.below(400) - 100) / 4} for i in range(520)]


# case -> {file name: rows}
INPUTS = {
    "projection_arithmetic": {"products.jsonl": products},
    "filter_predicates": {"products.jsonl": products},
    "case_when": {"products.jsonl": products},
    "string_functions": {"products.jsonl": products},
    "null_handling": {"products.jsonl": products},
    "cast_types": {"products.jsonl": products},
    "csv_quoting": {"products.jsonl": products},
    "json_sink": {"products.jsonl": products},
    "timestamps_fractional": {"products.jsonl": products},
    "tumble_aggregates": {"clicks.jsonl": clicks},
    "tumble_multi_key": {"clicks.jsonl": clicks},
    "tumble_global": {"clicks.jsonl": clicks},
    "tumble_subsecond": {"readings.jsonl": subsecond},
    "hop_aggregates": {"clicks.jsonl": clicks},
    "cumulate_aggregates": {"clicks.jsonl": clicks},
    "session_windows": {"sessions.jsonl": sessions},
    "session_gap_boundary": {"sessions.jsonl": touching_sessions},
    "view_projection": {"products.jsonl": products},
    "window_top_n": {"clicks.jsonl": clicks},
    "window_count_distinct": {"clicks.jsonl": clicks},
    "window_filter_where": {"clicks.jsonl": clicks},
    "window_expressions": {"clicks.jsonl": clicks},
    "window_nulls": {"clicks.jsonl": clicks},
    "empty_windows": {"sparse.jsonl": sparse},
    "late_events": {"payments.jsonl": late_clicks},
    "statement_set": {"clicks.jsonl": clicks},
    "epoch_seconds": {"readings.jsonl": seconds},
    "double_formatting": {"products.jsonl": products},
    "integer_literal_types": {"products.jsonl": products},
    "integer_aggregate_types": {"clicks.jsonl": clicks},
    "repeated_column": {"products.jsonl": products},
    "concat_nulls": {"products.jsonl": products},
    "cast_to_string": {"products.jsonl": products},
    "round_half_up": {"products.jsonl": products},
    "timestamp_ltz_csv": {"products.jsonl": products},
    "late_events_same_batch": {"payments.jsonl": late_in_batch},
    "watermark_boundary": {"payments.jsonl": boundary},
    "legacy_group_windows": {"clicks.jsonl": clicks},
    "decimal_literals": {"products.jsonl": products},
    "over_aggregates": {"clicks.jsonl": clicks},
    "interval_join": {"clicks.jsonl": clicks},
    "window_join": {"clicks.jsonl": clicks},
    "window_max_join": {"clicks.jsonl": clicks},
    "interval_join_window_max": {"clicks.jsonl": clicks},
    "window_tvf_join": {"clicks.jsonl": clicks},
}


def write(case, files):
    directory = os.path.join(CASES, case, "input")
    os.makedirs(directory, exist_ok=True)
    for name, make in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8", newline="\n") as f:
            for row in make():
                f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")


def main():
    names = sys.argv[1:] or sorted(INPUTS)
    unknown = [n for n in names if n not in INPUTS]
    if unknown:
        sys.exit(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(sorted(INPUTS))}")
    for name in names:
        write(name, INPUTS[name])
        print(f"{name}: input written")


if __name__ == "__main__":
    main()
