#!/usr/bin/env python3
"""Prints the dependency graph of the top-level modules of a Rust crate and
its cycles, from `crate::<module>` paths (comment lines skipped).

Usage: python3 scripts/module-deps.py [src]

Each line is `module -> modules it uses`; the last line lists the cycles
(strongly connected components of more than one module), or `none`.
tests/layout.rs checks the same graph in `cargo test`.
"""

import os
import re
import sys
from collections import defaultdict

IDENT = re.compile(r"\w+")


def top_modules(root):
    mods = set()
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if os.path.isdir(path):
            mods.add(name)
        elif name.endswith(".rs") and name not in ("lib.rs", "main.rs"):
            mods.add(name[:-3])
    return mods


def without_comments(text):
    return "\n".join("" if l.lstrip().startswith("//") else l for l in text.split("\n"))


def crate_refs(code):
    """Modules named right after `crate::`, and each first segment of a
    `crate::{a::X, b}` group."""
    for m in re.finditer(r"(?<![\w$])crate::", code):
        rest = code[m.end():]
        if not rest.startswith("{"):
            ident = IDENT.match(rest)
            if ident:
                yield ident.group()
            continue
        depth, item_start = 0, True
        for i, c in enumerate(rest):
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            elif c == "," and depth == 1:
                item_start = True
            elif item_start and depth == 1 and (c.isalnum() or c == "_"):
                yield IDENT.match(rest, i).group()
                item_start = False


def graph(root):
    mods = top_modules(root)
    edges = defaultdict(set)
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            top = os.path.relpath(path, root).split(os.sep)[0]
            top = top[:-3] if top.endswith(".rs") else top
            if top not in mods:
                continue
            with open(path, encoding="utf-8") as fh:
                code = without_comments(fh.read())
            for to in crate_refs(code):
                if to in mods and to != top:
                    edges[top].add(to)
    return mods, edges


def cycles(mods, edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(mods):
        if v not in index:
            visit(v)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "src"
    mods, edges = graph(root)
    for m in sorted(edges):
        print(m, "->", " ".join(sorted(edges[m])))
    found = cycles(mods, edges)
    print("cycles:", found if found else "none")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
