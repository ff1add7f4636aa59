#!/usr/bin/env python3
"""Regenerates the expected outputs of the SQL conformance suite from Apache Flink.

Each case of tests/conformance/ holds a Flink SQL job (job.sql), its input (input/*.jsonl) and
the rows Flink wrote (expected.csv, or one file per sink; see tests/conformance/README.md).
This script runs the job.sql of every case (or of the cases named) in PyFlink, exactly as
written but for the path placeholders, and rewrites the expected files with the sorted rows.

usage: conformance-expected.py [--check] [--keep DIR] [--cases-dir DIR] [CASE ...]

Run it with a Python that has apache-flink==2.3.0 (and Java 17) installed; the wrapper
scripts/conformance-expected.sh picks the one of $FLINK_VENV.

How Flink runs a job: a local mini-cluster in STREAMING mode, parallelism 1 and local time zone
UTC unless the job's own SET statements say otherwise, every INSERT of the file in one
statement set (one Flink job), as `spate sql run` runs them together.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = os.path.join(ROOT, "tests", "conformance")
INPUT = "${INPUT_DIR}"
OUTPUT = "${OUTPUT_DIR}"
# The file extension of the expected rows, by the sink's format.
EXTENSIONS = {"csv": "csv", "json": "jsonl"}


class CaseError(Exception):
    """A case that cannot run: names the case and what is wrong."""


def split_statements(sql):
    """The statements of a job file, without their `;`, comments and statement-set markers.

    Semicolons inside '…' strings ('' escapes a quote), `…` identifiers and comments do not
    end a statement. EXECUTE STATEMENT SET BEGIN … END; and BEGIN STATEMENT SET; … END; only
    group INSERTs, which this script runs as one statement set anyway.
    """
    statements, current, i, n = [], [], 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'`":
            j = i + 1
            while j < n:
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:
                        j += 2
                        continue
                    break
                j += 1
            current.append(sql[i : j + 1])
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
            current.append(" ")
        elif c == ";":
            statements.append("".join(current).strip())
            current = []
            i += 1
        else:
            current.append(c)
            i += 1
    statements.append("".join(current).strip())
    out = []
    for s in statements:
        s = re.sub(r"^(EXECUTE\s+STATEMENT\s+SET\s+BEGIN|BEGIN\s+STATEMENT\s+SET)\b", "", s,
                   flags=re.IGNORECASE).strip()
        if s and not re.fullmatch(r"END", s, flags=re.IGNORECASE):
            out.append(s)
    return out


def sinks(statements):
    """(relative output directory, format) of every table whose path is under ${OUTPUT_DIR}."""
    found = []
    for s in statements:
        if not re.match(r"CREATE\s+(TEMPORARY\s+)?TABLE\b", s, flags=re.IGNORECASE):
            continue
        path = re.search(r"'path'\s*=\s*'([^']*)'", s)
        if not path or not path.group(1).startswith(OUTPUT):
            continue
        fmt = re.search(r"'format'\s*=\s*'([^']*)'", s)
        fmt = fmt.group(1) if fmt else ""
        if fmt not in EXTENSIONS:
            raise CaseError(f"sink format {fmt!r} (the suite compares {sorted(EXTENSIONS)})")
        found.append((path.group(1)[len(OUTPUT):].strip("/"), fmt))
    return found


def expected_name(subdir, fmt):
    """Where the rows of the sink writing to ${OUTPUT_DIR}/subdir are kept, in the case."""
    ext = EXTENSIONS[fmt]
    return f"expected.{ext}" if subdir == "" else os.path.join("expected", f"{subdir}.{ext}")


def committed_rows(directory):
    """The rows of the finished part files in a sink directory, sorted (no directory: none)."""
    rows = []
    if os.path.isdir(directory):
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if name.startswith((".", "_")) or not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8", newline="") as f:
                rows.extend(line for line in f.read().split("\n") if line != "")
    return sorted(rows)


def run_case(case_dir, work):
    """Runs one case's job in Flink; returns {expected file name: sorted rows}."""
    with open(os.path.join(case_dir, "job.sql"), encoding="utf-8") as f:
        template = f.read()
    statements = split_statements(template)
    from pyflink.table import EnvironmentSettings, TableEnvironment

    outputs = sinks(statements)
    if not outputs:
        raise CaseError(f"no sink writes under {OUTPUT}")
    out_root = os.path.join(work, "out")
    os.makedirs(out_root)
    substitute = lambda s: s.replace(INPUT, os.path.join(case_dir, "input")).replace(
        OUTPUT, out_root)

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = t_env.get_config()
    config.set("parallelism.default", "1")
    config.set("table.local-time-zone", "UTC")
    config.set("pipeline.name", os.path.basename(case_dir))
    inserts = []
    for statement in statements:
        statement = substitute(statement)
        setting = re.fullmatch(r"SET\s+'([^']*)'\s*=\s*'((?:[^']|'')*)'", statement,
                               flags=re.IGNORECASE | re.DOTALL)
        if setting:
            config.set(setting.group(1), setting.group(2).replace("''", "'"))
        elif re.match(r"INSERT\b", statement, flags=re.IGNORECASE):
            inserts.append(statement)
        else:
            t_env.execute_sql(statement)
    if not inserts:
        raise CaseError("no INSERT statement")
    statement_set = t_env.create_statement_set()
    for insert in inserts:
        statement_set.add_insert_sql(insert)
    statement_set.execute().wait()
    return {
        expected_name(subdir, fmt): committed_rows(os.path.join(out_root, subdir))
        for subdir, fmt in outputs
    }


def summary(error):
    """The gist of an error: Java's stack traces reduced to their messages."""
    lines = [l.strip() for l in str(error).splitlines()]
    messages = [l for l in lines if "Exception:" in l or "Error:" in l]
    return "\n    ".join((messages or lines)[:4])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases", nargs="*", help="case directory names (default: every case)")
    ap.add_argument("--check", action="store_true",
                    help="compare with the committed files instead of rewriting them")
    ap.add_argument("--keep", metavar="DIR", help="keep Flink's raw output under DIR")
    ap.add_argument("--cases-dir", default=CASES, help=f"where the cases are (default {CASES})")
    a = ap.parse_args()
    cases = a.cases_dir
    try:
        import pyflink  # noqa: F401  (fail early, not once per case)
    except ImportError:
        sys.exit(f"{sys.executable} has no PyFlink: pip install apache-flink==2.3.0 "
                 "(see tests/conformance/README.md)")
    names = a.cases or sorted(
        d for d in os.listdir(cases) if os.path.isfile(os.path.join(cases, d, "job.sql")))
    unknown = [n for n in names if not os.path.isfile(os.path.join(cases, n, "job.sql"))]
    if unknown:
        sys.exit(f"no such case: {', '.join(unknown)} (cases are the directories of {cases})")

    failures = []
    for name in names:
        case_dir = os.path.join(cases, name)
        work = tempfile.mkdtemp(prefix=f"conformance-{name}-")
        try:
            results = run_case(case_dir, work)
        except Exception as e:  # report the case and go on with the others
            failures.append(name)
            print(f"{name}: FAILED in Flink: {summary(e)}", file=sys.stderr, flush=True)
            continue
        finally:
            if a.keep:
                shutil.copytree(work, os.path.join(a.keep, name), dirs_exist_ok=True)
            shutil.rmtree(work, ignore_errors=True)
        for file, rows in results.items():
            path = os.path.join(case_dir, file)
            text = "".join(row + "\n" for row in rows)
            if a.check:
                try:
                    with open(path, encoding="utf-8", newline="") as f:
                        same = f.read() == text
                except FileNotFoundError:
                    same = False
                if not same:
                    failures.append(name)
                print(f"{name}/{file}: {len(rows)} rows, {'same' if same else 'DIFFERENT'}",
                      flush=True)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8", newline="") as f:
                    f.write(text)
                print(f"{name}/{file}: {len(rows)} rows", flush=True)

    # Reap the gateway JVM: PyFlink keeps its Popen only in subprocess._active, and the JVM
    # would otherwise outlive this process.
    for p in list(getattr(subprocess, "_active", None) or []):
        try:
            p.terminate()
            p.wait(timeout=60)
        except Exception as e:  # pragma: no cover
            print("could not stop the Flink JVM:", e, file=sys.stderr)
    if failures:
        print(f"failed: {' '.join(sorted(set(failures)))}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1 if failures else 0)  # skip py4j finalizers that would reach the stopped JVM


if __name__ == "__main__":
    main()
