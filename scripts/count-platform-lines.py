#!/usr/bin/env python3
"""Counts the agent's lines that are compiled only for macOS or only for Windows.

    scripts/count-platform-lines.py [--files]

Reads the Rust sources of the crates that ship in the agent (agent/, crates/{schema,policy,host,
checks,client}) and evaluates every `#[cfg(...)]` / `#![cfg(...)]` attribute for Linux, macOS and
Windows. An item whose cfg is false on Linux (the item, the block or statement, or the whole file
of a `mod` declared under it) is counted, by where it is compiled. Counted lines are code lines:
blank lines and comment-only lines are left out. `cfg!(...)` conditions are not counted as lines:
their branches are compiled on every OS (so tests here type-check them) and only taken on one.

Those lines are type-checked on Linux by scripts/cross-check.sh, but never run here: only the
hosted macOS and Windows runners of .github/workflows/platforms.yml (or a real Mac or PC) run them.
"""

import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CRATES = ["agent", "crates/schema", "crates/policy", "crates/host", "crates/checks", "crates/client"]
OSES = ("linux", "macos", "windows")
CFG_ATTR = re.compile(r"#(!?)\[cfg\(")
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;")


class CfgError(Exception):
    pass


def parse_pred(text, i):
    """Parses one cfg predicate at text[i:]; returns (tree, next index)."""
    m = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*").match(text, i)
    if not m:
        raise CfgError(f"cannot parse cfg predicate at {text[i:i + 40]!r}")
    name, i = m.group(1), m.end()
    if text.startswith("(", i):
        args, i = [], i + 1
        while True:
            while text[i].isspace():
                i += 1
            if text[i] == ")":
                return (name, args), i + 1
            arg, i = parse_pred(text, i)
            args.append(arg)
            while text[i].isspace():
                i += 1
            if text[i] == ",":
                i += 1
    m = re.compile(r'=\s*"([^"]*)"\s*').match(text, i)
    if m:
        return ("=", name, m.group(1)), m.end()
    return ("flag", name), i


def holds(tree, os_name):
    """Whether a cfg predicate holds when compiling for os_name (tests and features included)."""
    kind = tree[0]
    if kind == "flag":
        name = tree[1]
        if name == "unix":
            return os_name != "windows"
        if name == "windows":
            return os_name == "windows"
        return True  # test, debug_assertions, ...: compiled in some build on every OS
    if kind == "=":
        key, value = tree[1], tree[2]
        if key == "target_os":
            return value == os_name
        if key == "target_family":
            return value == ("windows" if os_name == "windows" else "unix")
        return True  # features, target_arch, ...: not an OS distinction
    name, args = tree
    if name == "any":
        return any(holds(a, os_name) for a in args)
    if name == "all":
        return all(holds(a, os_name) for a in args)
    if name == "not":
        return not holds(args[0], os_name)
    raise CfgError(f"unknown cfg operator {name}")


def strip_code(text):
    """Blanks out comments and string/char literals, keeping line structure, so that braces and
    semicolons can be counted."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            j = text.find('"' + hashes, i + 2 + len(hashes))
            j = n if j < 0 else j + 1 + len(hashes)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i:j + 1]))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]):
            m = re.match(r"'(\\.|[^\\'])'", text[i:])
            out.append(" " * len(m.group(0)))
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def item_end(code, start):
    """Index just past the item, statement or block that starts at `start` (after its cfg)."""
    depth, opened = 0, False
    for j in range(start, len(code)):
        c = code[j]
        if c in "([{":
            depth += 1
            opened = opened or c == "{"
        elif c in ")]}":
            depth -= 1
            if depth < 0:  # end of the enclosing block: the item ended before it
                return j
            if depth == 0 and c == "}" and opened:
                k = j + 1
                while k < len(code) and code[k] in " \t":
                    k += 1
                return k + 1 if k < len(code) and code[k] in ";," else j + 1
        elif c in ";," and depth == 0:
            return j + 1
    return len(code)


def code_lines(text, line_numbers):
    """The line numbers (1-based) among line_numbers that hold code, not only blanks or comments."""
    stripped = strip_code(text).split("\n")
    raw = text.split("\n")
    keep = set()
    for ln in line_numbers:
        s = stripped[ln - 1].strip()
        # A line that is only a string literal (part of a long message) is still code.
        if s or (raw[ln - 1].strip() and not raw[ln - 1].strip().startswith(("//", "/*", "*"))):
            keep.add(ln)
    return keep


def where(oses):
    return {("macos",): "macOS", ("windows",): "Windows", ("macos", "windows"): "macOS and Windows"}.get(
        tuple(o for o in OSES if o in oses)
    )


def scan(path, counted, forced=None):
    """Records the counted lines of one file in counted[path] (all of the file when `forced`, a
    set of OSes, is given: it is a module declared under a cfg). A file reached through a cfg'd
    `mod` is counted that way even when the directory walk met it first."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    nlines = text.count("\n") + (0 if text.endswith("\n") else 1)
    code = strip_code(text)
    line_of = lambda idx: code.count("\n", 0, idx) + 1  # noqa: E731
    everywhere = frozenset(OSES)
    # line -> the OSes it is compiled for: the intersection of every cfg around it.
    region = {ln: forced or everywhere for ln in range(1, nlines + 1)}

    def mark(lines, oses):
        for ln in lines:
            region[ln] = region[ln] & oses

    for m in CFG_ATTR.finditer(code):
        tree, after = parse_pred(text, m.end())
        close = code.index("]", after)
        oses = frozenset(o for o in OSES if holds(tree, o))
        if m.group(1) == "!":
            mark(range(1, nlines + 1), oses)
            continue
        end = item_end(code, close + 1)
        first, last = line_of(m.start()), line_of(end - 1)
        mark(range(first, last + 1), oses)
        decl = MOD_DECL.match(code[close + 1:end].strip("\n ") + "\n")
        if decl and "linux" not in region[first] and region[first]:
            base = os.path.dirname(path)
            if os.path.basename(path) not in ("mod.rs", "lib.rs", "main.rs"):
                base = os.path.join(base, os.path.splitext(os.path.basename(path))[0])
            for cand in (os.path.join(base, decl.group(1) + ".rs"), os.path.join(base, decl.group(1), "mod.rs")):
                if os.path.exists(cand):
                    scan(os.path.normpath(cand), counted, forced=region[first])
                    break
    # Lines compiled on Linux are run by the tests here; lines compiled nowhere are not counted.
    region = {ln: oses for ln, oses in region.items() if oses and "linux" not in oses}
    by_os = {}
    for ln, oses in region.items():
        by_os.setdefault(oses, set()).add(ln)
    result = {where(oses): len(code_lines(text, lines)) for oses, lines in by_os.items()}
    rel = os.path.relpath(path, ROOT)
    if forced is not None or rel not in counted:
        counted[rel] = (forced is not None, result)
    elif not counted[rel][0]:
        counted[rel] = (False, result)


def main():
    show_files = "--files" in sys.argv[1:]
    per_file = {}
    for crate in CRATES:
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, crate)):
            dirnames[:] = sorted(d for d in dirnames if d not in ("target", "fixtures", "snapshots"))
            for name in sorted(filenames):
                if name.endswith(".rs"):
                    scan(os.path.normpath(os.path.join(dirpath, name)), per_file)
    counted = {}
    for rel, (_, result) in per_file.items():
        for label, n in result.items():
            if n:
                counted.setdefault(label, {})[rel] = n
    print("Lines of the agent compiled only for macOS or Windows (code lines, not comments or blanks):")
    total = 0
    for label in ("macOS", "Windows", "macOS and Windows"):
        files = counted.get(label, {})
        n = sum(files.values())
        total += n
        print(f"  {('only ' if label != 'macOS and Windows' else '') + label + ':':<27}{n:>5} lines in {len(files)} files")
        if show_files:
            for f, k in sorted(files.items()):
                print(f"      {k:>5}  {f}")
    print(f"  {'total:':<27}{total:>5} lines")
    print("They are type-checked on Linux (scripts/cross-check.sh) but never run here; only the hosted")
    print("macOS and Windows runners (.github/workflows/platforms.yml) or a real Mac or PC run them.")


if __name__ == "__main__":
    try:
        main()
    except CfgError as e:
        sys.exit(f"count-platform-lines: {e}")
