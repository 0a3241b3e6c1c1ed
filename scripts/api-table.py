#!/usr/bin/env python3
"""Prints the README's route table from the OpenAPI document.

    cargo run --release -- openapi | python3 scripts/api-table.py
"""
import json
import sys

doc = json.load(sys.stdin)
print("| operation | scope | what |")
print("|---|---|---|")
for path, item in doc["paths"].items():
    for method in ("get", "put", "post", "delete", "patch"):
        op = item.get(method)
        if not op:
            continue
        sec = op.get("security") or []
        scope = sec[0].get("bearer", ["none"])[0] if sec else "none"
        what = " ".join(op.get("summary", "").split()).replace("|", "\\|")
        print(f"| `{method.upper()} {path}` | {scope} | {what} |")
