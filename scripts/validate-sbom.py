#!/usr/bin/env python3
"""Validates an SBOM against its official schema with its format's own library.

    validate-sbom.py cyclonedx FILE    (CycloneDX 1.6 JSON, cyclonedx-python-lib's strict validator)
    validate-sbom.py spdx FILE         (SPDX 2.3 JSON, spdx-tools' parser and validator)

Run with the test bed's interpreter, /var/cache/docker-repro-testbed/sbom-venv/bin/python
(scripts/testbed.sh installs both libraries there). Exits 0 when valid; otherwise prints every
error and exits 1.
"""
import sys


def cyclonedx(path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    with open(path, encoding="utf-8") as f:
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(f.read())
    return [] if error is None else [str(error)]


def spdx(path):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    document = parse_file(path)
    return [m.validation_message for m in validate_full_spdx_document(document, "SPDX-2.3")]


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("cyclonedx", "spdx"):
        sys.exit(__doc__)
    errors = {"cyclonedx": cyclonedx, "spdx": spdx}[sys.argv[1]](sys.argv[2])
    for error in errors:
        print(error, file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
