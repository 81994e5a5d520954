#!/usr/bin/env python3
"""Validates OCSF events (NDJSON) against the OCSF schema shipped by the `ocsf-json-schema`
package (no network): every event's class must exist, its required attributes (and those of the
profiles it declares in metadata.profiles) must be present, values must have the attribute's type,
enum ids must be valid, type_uid must be class_uid * 100 + activity_id, the class and object
`at_least_one` / `just_one` constraints must hold, and no attribute may be unknown to the schema
(except inside `unmapped` and JSON-typed values).

Usage: validate_ocsf.py [--version 1.3.0] [FILE]   (stdin when no file)
Prints one line per error (at most 50), then a summary; exits 1 on any error, 2 when the schema
package is missing.
"""

import argparse
import json
import re
import sys
from collections import Counter

try:
    from ocsf_json_schema import get_ocsf_schema
except ImportError:  # pragma: no cover - reported to the caller
    print("ocsf-json-schema is not installed: pip install -r scripts/requirements-test.txt", file=sys.stderr)
    sys.exit(2)

INT_TYPES = {"integer_t", "long_t", "port_t", "timestamp_t"}


class Validator:
    def __init__(self, version):
        self.schema = get_ocsf_schema(version=version)
        self.version = version
        self.types = self.schema["types"]
        self.classes = {c["uid"]: c for c in self.schema["classes"].values()}
        base = self.schema["base_event"]
        self.classes.setdefault(base["uid"], base)
        self.regex = {
            name: re.compile(t["regex"]) for name, t in self.types.items() if "regex" in t
        }

    def base_type(self, name):
        t = self.types.get(name, {})
        return t.get("type", name)

    def check_scalar(self, type_name, value, path, errors):
        base = self.base_type(type_name)
        if base in INT_TYPES or type_name in INT_TYPES:
            if isinstance(value, bool) or not isinstance(value, int):
                errors.append(f"{path}: expected an integer ({type_name}), got {value!r}")
                return
            rng = self.types.get(type_name, {}).get("range")
            if rng and not rng[0] <= value <= rng[1]:
                errors.append(f"{path}: {value} outside {rng}")
        elif base == "float_t":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                errors.append(f"{path}: expected a number, got {value!r}")
        elif base == "boolean_t":
            if not isinstance(value, bool):
                errors.append(f"{path}: expected a boolean, got {value!r}")
        elif base == "string_t":
            if not isinstance(value, str):
                errors.append(f"{path}: expected a string ({type_name}), got {value!r}")
                return
            max_len = self.types.get(type_name, {}).get("max_len") or self.types["string_t"].get("max_len")
            if max_len and len(value) > max_len:
                errors.append(f"{path}: longer than {max_len}")
            rx = self.regex.get(type_name)
            if rx and not rx.search(value):
                errors.append(f"{path}: {value!r} is not a valid {type_name}")
        elif base == "json_t":
            pass
        else:
            errors.append(f"{path}: unknown type {type_name}")

    def check_attrs(self, attrs, constraints, obj, path, profiles, errors, depth=0):
        if not isinstance(obj, dict):
            errors.append(f"{path or '<event>'}: expected an object")
            return
        if depth > 16:
            return
        for name, a in attrs.items():
            prof = a.get("profile")
            if a.get("requirement") == "required" and (prof is None or prof in profiles):
                if name not in obj or obj[name] is None:
                    errors.append(f"{path}{name}: required attribute missing")
        for name, value in obj.items():
            a = attrs.get(name)
            p = f"{path}{name}"
            if a is None:
                errors.append(f"{p}: unknown attribute")
                continue
            if value is None:
                errors.append(f"{p}: null value")
                continue
            if a.get("is_array"):
                if not isinstance(value, list):
                    errors.append(f"{p}: expected an array")
                    continue
                for i, item in enumerate(value):
                    self.check_value(a, item, f"{p}[{i}]", profiles, errors, depth)
            else:
                self.check_value(a, value, p, profiles, errors, depth)
        if constraints and "at_least_one" in constraints:
            group = constraints["at_least_one"]
            if not any(k in obj for k in group):
                errors.append(f"{path or '<event>'}: needs at least one of {group}")
        if constraints and "just_one" in constraints:
            group = constraints["just_one"]
            if sum(k in obj for k in group) != 1:
                errors.append(f"{path or '<event>'}: needs exactly one of {group}")

    def check_value(self, a, value, path, profiles, errors, depth):
        t = a.get("type")
        if t == "object_t":
            otype = a.get("object_type")
            if otype == "object":  # `unmapped` and other free-form objects
                if not isinstance(value, dict):
                    errors.append(f"{path}: expected an object")
                return
            o = self.schema["objects"].get(otype)
            if o is None:
                errors.append(f"{path}: unknown object type {otype}")
                return
            self.check_attrs(o["attributes"], o.get("constraints"), value, path + ".", profiles, errors, depth + 1)
            return
        self.check_scalar(t, value, path, errors)
        enum = a.get("enum")
        if enum is not None and str(value) not in enum:
            errors.append(f"{path}: {value!r} is not one of {sorted(enum)}")

    def validate(self, event):
        errors = []
        if not isinstance(event, dict):
            return None, ["event is not an object"]
        cls = self.classes.get(event.get("class_uid"))
        if cls is None:
            return None, [f"class_uid: unknown class {event.get('class_uid')!r}"]
        metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
        profiles = set(metadata.get("profiles") or [])
        for p in profiles:
            if p not in (cls.get("profiles") or []):
                errors.append(f"metadata.profiles: unknown profile {p!r}")
        self.check_attrs(cls["attributes"], cls.get("constraints"), event, "", profiles, errors)
        act, cuid = event.get("activity_id"), event.get("class_uid")
        if isinstance(act, int) and isinstance(cuid, int) and event.get("type_uid") != cuid * 100 + act:
            errors.append(f"type_uid: {event.get('type_uid')} != class_uid*100+activity_id ({cuid * 100 + act})")
        if cls.get("category_uid") is not None and event.get("category_uid") != cls["category_uid"]:
            errors.append(f"category_uid: {event.get('category_uid')} != {cls['category_uid']} of {cls['name']}")
        if metadata.get("version") != self.version:
            errors.append(f"metadata.version: {metadata.get('version')!r} != {self.version}")
        return cls["name"], errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--version", default="1.3.0")
    ap.add_argument("file", nargs="?")
    args = ap.parse_args()
    v = Validator(args.version)
    src = open(args.file, encoding="utf-8") if args.file else sys.stdin
    per_class, failed, total, shown = Counter(), 0, 0, 0
    for n, line in enumerate(src, 1):
        if not line.strip():
            continue
        total += 1
        try:
            event = json.loads(line)
        except json.JSONDecodeError as e:
            name, errors = None, [f"not JSON: {e}"]
        else:
            name, errors = v.validate(event)
        per_class[name or "?"] += 1
        if errors:
            failed += 1
            for e in errors:
                if shown < 50:
                    print(f"line {n} ({name}): {e}")
                shown += 1
    classes = ", ".join(f"{k} {c}" for k, c in sorted(per_class.items()))
    print(f"ocsf {args.version}: {total} events, {failed} invalid ({classes})")
    sys.exit(1 if failed or total == 0 else 0)


if __name__ == "__main__":
    main()
