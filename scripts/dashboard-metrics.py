#!/usr/bin/env python3
"""Prints every metric the Grafana dashboard and the Prometheus rules query.

Reads the PromQL of ops/grafana/courserec.json (each target's `expr` and the
template variables' queries) and of ops/prometheus/courserec-rules.yml (each
rule's `expr`), and prints, sorted, one per line and once each, every name
matching `courserec_[a-z0-9_]+` or `process_[a-z_]+`, with the histogram
suffixes `_bucket`, `_sum` and `_count` taken off. Text outside the queries
(titles, descriptions, annotations) is not read.

A test uses the list to check that /metrics exposes each of these metrics.

    python3 scripts/dashboard-metrics.py [DASHBOARD.json] [RULES.yml]

Only the Python standard library is used: the rules file is read line by
line, which is enough for `expr:` given inline or as a `>-`/`|` block.
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "ops" / "grafana" / "courserec.json"
RULES = ROOT / "ops" / "prometheus" / "courserec-rules.yml"

NAME = re.compile(r"(?<![A-Za-z0-9_:])(courserec_[a-z0-9_]+|process_[a-z_]+)")
HISTOGRAM_SUFFIX = re.compile(r"_(bucket|sum|count)$")


def dashboard_queries(path):
    """The PromQL of a Grafana dashboard: targets and query variables."""
    queries = []

    def walk(node):
        if isinstance(node, dict):
            expr = node.get("expr")
            if isinstance(expr, str):
                queries.append(expr)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    walk(doc.get("panels", []))
    for var in doc.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        query = var.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        for text in (query, var.get("definition")):
            if isinstance(text, str):
                queries.append(text)
    return queries


def rules_queries(path):
    """The `expr` values of a Prometheus rules file."""
    queries = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(?:- )?expr:\s*(.*)$", lines[i])
        i += 1
        if not m:
            continue
        indent, value = len(m.group(1)), m.group(2).strip()
        if value[:1] in (">", "|"):
            block = []
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i].strip())
                i += 1
            queries.append(" ".join(block))
        else:
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            queries.append(value)
    return queries


def metric_names(queries):
    names = set()
    for query in queries:
        for name in NAME.findall(query):
            names.add(HISTOGRAM_SUFFIX.sub("", name))
    return sorted(names)


def main(argv):
    dashboard = argv[1] if len(argv) > 1 else DASHBOARD
    rules = argv[2] if len(argv) > 2 else RULES
    for name in metric_names(dashboard_queries(dashboard) + rules_queries(rules)):
        print(name)


if __name__ == "__main__":
    main(sys.argv)
