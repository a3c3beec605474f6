#!/usr/bin/env python3
"""Checks mailbisect's JSON reports against the JSON Schema printed in README.md ("JSON output").

Usage: check_report_schema.py README.md REPORT.json...  Prints one line per violation and exits
1 when there is any. Implements the keywords that schema uses: type (with null), enum, required,
properties, items, minimum, maximum; an unknown keyword is an error, so the README cannot grow
a rule this checker would silently ignore.
"""
import json
import re
import sys

KNOWN = {"$schema", "title", "type", "required", "properties", "items", "enum", "minimum",
         "maximum", "format"}
TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def schema_from_readme(path):
    text = open(path, encoding="utf-8").read()
    section = text.split("### JSON output", 1)[1]
    block = re.search(r"```json\n(.*?)\n```", section, re.S)
    return json.loads(block.group(1))


def is_type(value, name):
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, TYPES[name])


def check(value, schema, where, errors):
    unknown = set(schema) - KNOWN
    if unknown:
        errors.append("%s: schema keyword(s) %s not supported" % (where, sorted(unknown)))
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(is_type(value, t) for t in types):
            errors.append("%s: got %r, want type %s" % (where, value, types))
            return
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: got %r, want one of %s" % (where, value, schema["enum"]))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append("%s: got %r, below %r" % (where, value, schema["minimum"]))
        if "maximum" in schema and value > schema["maximum"]:
            errors.append("%s: got %r, above %r" % (where, value, schema["maximum"]))
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append("%s: required key %s missing" % (where, key))
        props = schema.get("properties", {})
        for key, item in value.items():
            if key not in props:
                errors.append("%s: key %s is not in the README schema" % (where, key))
            else:
                check(item, props[key], "%s.%s" % (where, key), errors)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check(item, schema["items"], "%s[%d]" % (where, i), errors)


def main():
    schema = schema_from_readme(sys.argv[1])
    errors = []
    for path in sys.argv[2:]:
        check(json.load(open(path, encoding="utf-8")), schema, path, errors)
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
