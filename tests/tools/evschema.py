#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check faultline's JSON output against docs/events.schema.json.

  evschema.py events FILE...        every line of event logs (--events)
  evschema.py counters FILE         every JSON line of `faultline run`'s stdout
  evschema.py replay-counters FILE  the same for `faultline replay`
  evschema.py check-schema          every field has a description; optional ones say when
  evschema.py check-reader SRC...   the events reader (cli/evlog*) asks only for keys,
                                    kinds and values the schema defines
  evschema.py check-writers SRC...  every key the writers print is in the schema
  evschema.py check                 the three checks above on the tree (ctest runs this)
  evschema.py doc                   every kind and field as text (name, type, when, meaning)
  evschema.py scdoc OUT             the same as faultline-events(5), in scdoc(5), to OUT

Validation goes by the line's "ev": an unknown kind, an unknown key, a
missing one or a wrong type fails, with FILE:LINE and the path of the value;
so does a packet line whose flow string names its protocol otherwise than
its "proto".
"events" prints one JSON line on stdout: lines per kind and a few facts
about what was seen (the integration test asserts its coverage with them).
Exit status 0 when everything conforms, 1 otherwise, 2 on bad usage.
"""
import json
import os
import re
import sys

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                           "events.schema.json")


def load_schema(path=SCHEMA_PATH):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def validator(schema, name):
    """A validator for $defs/NAME, its references resolved within the file."""
    import jsonschema  # only validation needs it, not the reference text

    sub = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/" + name}
    cls = jsonschema.Draft202012Validator
    cls.check_schema(sub)
    return cls(sub)


def event_kinds(schema):
    """The kinds the top level allows: {"packet": "packet", ...} (ev value -> $defs name)."""
    kinds = {}
    for alt in schema["oneOf"]:
        name = alt["$ref"].rsplit("/", 1)[1]
        kinds[schema["$defs"][name]["properties"]["ev"]["const"]] = name
    return kinds


def errors_of(v, obj):
    out = []
    for e in sorted(v.iter_errors(obj), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in e.absolute_path)
        out.append((where + ": " if where else "") + e.message)
    return out


def lines_of(path):
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            yield n, line


def cmd_events(schema, paths):
    kinds = event_kinds(schema)
    vals = {k: validator(schema, d) for k, d in kinds.items()}
    bad = 0
    seen = {"lines": 0, "kinds": {}, "proto": {}, "verdict": {}, "actions": {}, "reasons": {},
            "early": 0, "tcp_flow": 0, "caused_by": 0, "classes": {}}
    for path in paths:
        for n, line in lines_of(path):
            seen["lines"] += 1
            try:
                obj = json.loads(line)
            except ValueError as e:
                print(f"{path}:{n}: not JSON: {e}", file=sys.stderr)
                bad += 1
                continue
            ev = obj.get("ev") if isinstance(obj, dict) else None
            if ev not in vals:
                print(f"{path}:{n}: unknown event kind {ev!r} (the schema has {sorted(vals)})",
                      file=sys.stderr)
                bad += 1
                continue
            errs = errors_of(vals[ev], obj)
            for e in errs:
                print(f"{path}:{n}: {ev}: {e}", file=sys.stderr)
            bad += bool(errs)
            seen["kinds"][ev] = seen["kinds"].get(ev, 0) + 1
            if ev == "packet" and not errs and obj["proto"] != "other" and \
                    not obj["flow"].startswith(obj["proto"] + " "):
                # One spelling per protocol: the flow string names it as "proto" does.
                print(f"{path}:{n}: packet: proto {obj['proto']!r} but flow {obj['flow']!r}",
                      file=sys.stderr)
                bad += 1
            if ev == "packet":
                for k in ("proto", "verdict"):
                    seen[k][obj[k]] = seen[k].get(obj[k], 0) + 1
                seen["tcp_flow"] += "tcp_flow" in obj
                seen["caused_by"] += "caused_by" in obj
                for a in obj.get("actions", []):
                    seen["actions"][a["action"]] = seen["actions"].get(a["action"], 0) + 1
                    if "reason" in a:
                        r = a["action"] + ":" + a["reason"]
                        seen["reasons"][r] = seen["reasons"].get(r, 0) + 1
            if ev == "release":
                seen["early"] += "early" in obj
            if ev == "class":
                for c in obj.get("class", []):
                    seen["classes"][c] = seen["classes"].get(c, 0) + 1
    print(json.dumps(seen, sort_keys=True))
    return 1 if bad else 0


def cmd_counters(schema, name, paths):
    v = validator(schema, name)
    bad = found = 0
    for path in paths:
        for n, line in lines_of(path):
            if not line.lstrip().startswith("{"):
                continue
            found += 1
            errs = errors_of(v, json.loads(line))
            for e in errs:
                print(f"{path}:{n}: {name}: {e}", file=sys.stderr)
            bad += bool(errs)
    if not found:
        print(f"{' '.join(paths)}: no JSON line to check", file=sys.stderr)
        return 1
    print(json.dumps({"checked": found, "bad": bad}))
    return 1 if bad else 0


# ---- the schema itself ---------------------------------------------------------------

def resolve(schema, node):
    while isinstance(node, dict) and "$ref" in node and "description" not in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def objects(schema):
    """Every object schema with properties: (path, schema)."""
    out = []

    def walk(node, path):
        if isinstance(node, dict):
            if "properties" in node:
                out.append((path, node))
            for k, v in node.items():
                walk(v, path + "/" + k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + "/" + str(i))
    walk(schema, "#")
    return out


def all_keys(schema):
    return {k for _, o in objects(schema) for k in o["properties"]}


def cmd_check_schema(schema):
    bad = []
    for path, o in objects(schema):
        req = set(o.get("required", []))
        for k, p in o["properties"].items():
            if p is True:
                continue
            if not isinstance(resolve(schema, p), dict) or "description" not in resolve(schema, p):
                bad.append(f"{path}/properties/{k}: no description")
            if k not in req and "x-present" not in p:
                bad.append(f"{path}/properties/{k}: optional but no x-present (when is it there?)")
            if k in req and "x-present" in p:
                bad.append(f"{path}/properties/{k}: required and x-present")
        for k in req:
            if k not in o["properties"] and not any(
                    k in resolve(schema, a).get("properties", {}) for a in o.get("allOf", [])):
                bad.append(f"{path}: requires {k}, which it does not define")
        if "additionalProperties" not in o and "unevaluatedProperties" not in o and \
                not path.endswith(("seg-fields", "pipeline-counters")):
            bad.append(f"{path}: open object (additionalProperties: false missing)")
    for name in ["counters", "replay-counters"] + sorted(event_kinds(schema).values()):
        validator(schema, name)
    for b in bad:
        print("docs/events.schema.json: " + b, file=sys.stderr)
    return 1 if bad else 0


# ---- the reader and the writers --------------------------------------------------------

def c_source(paths):
    text = ""
    for p in paths:
        with open(p, encoding="utf-8") as f:
            # Comments name keys in prose; only code counts.
            text += re.sub(r"/\*.*?\*/|//[^\n]*", " ", f.read(), flags=re.S)
    return text


def enum_of(schema, *path):
    node = schema["$defs"]
    for p in path:
        node = node[p]
    return set(resolve(schema, node)["enum"])


def cmd_check_reader(schema, paths):
    src = c_source(paths)
    keys = all_keys(schema)
    # get_str(log, o, "proto"), get(log, o, "actions", ...), evlog_json_get(j, obj, "ev")...
    asked = re.findall(r"\b\w*get\w*\(\s*[^,()]+,\s*[^,()]+,\s*\"([^\"]*)\"", src)
    kinds = set(event_kinds(schema))
    ev_cmp = re.findall(r"strcmp\(\s*ev->str\s*,\s*\"([^\"]*)\"", src)
    acts = re.findall(r"evlog_pkt_rule\(\s*[^,()]+,\s*\"([^\"]*)\"", src)
    verdicts = re.findall(r"strcmp\(\s*verdict\s*,\s*\"([^\"]*)\"", src)
    views = re.findall(r"strcmp\(\s*view\s*,\s*\"([^\"]*)\"", src)
    # strcmp(p->actions[i].action, "rate"), strcmp(x.reason, "queue-full")
    acts += re.findall(r"strcmp\(\s*[\w.>\[\]-]*action\s*,\s*\"([^\"]*)\"", src)
    # evlog_pkt_rule(p, RULE_ACT_DELAY): the name is the action table's, which check-writers checks.
    acts_by_enum = re.findall(r"evlog_pkt_rule\(\s*[^,()]+,\s*RULE_ACT_\w+", src)
    reasons = re.findall(r"strcmp\(\s*[\w.>\[\]-]*reason\s*,\s*\"([^\"]*)\"", src)
    bad = [f"reads key \"{k}\", which the schema does not define" for k in sorted(set(asked) - keys)]
    bad += [f"compares ev with \"{k}\", not an event kind of the schema" for k in sorted(set(ev_cmp) - kinds)]
    bad += [f"looks for action \"{a}\", not an action of the schema"
            for a in sorted(set(acts) - enum_of(schema, "action", "properties", "action"))]
    bad += [f"compares verdict with \"{v}\", not a verdict of the schema"
            for v in sorted(set(verdicts) - enum_of(schema, "verdict-name"))]
    bad += [f"compares view with \"{v}\", not a view of the schema"
            for v in sorted(set(views) - enum_of(schema, "class", "properties", "view"))]
    bad += [f"compares a reason with \"{v}\", not a reason of the schema"
            for v in sorted(set(reasons) - enum_of(schema, "action", "properties", "reason") -
                            enum_of(schema, "flow-end", "properties", "reason"))]
    # Found too few: the reader changed shape and the patterns above went blind.
    if len(set(asked)) < 40 or len(set(ev_cmp)) < 6 or not (acts or acts_by_enum) or not verdicts or not views:
        bad.append(f"found only {len(set(asked))} keys, {len(set(ev_cmp))} kinds, "
                   f"{len(acts) + len(acts_by_enum)} actions, "
                   f"{len(verdicts)} verdicts, {len(views)} views in {' '.join(paths)}: update "
                   "tests/tools/evschema.py to how the reader looks keys up")
    for b in bad:
        print("events reader: " + b, file=sys.stderr)
    if not bad:
        print(json.dumps({"keys": len(set(asked)), "kinds": sorted(set(ev_cmp))}))
    return 1 if bad else 0


def cmd_check_writers(schema, paths):
    src = c_source(paths)
    keys = all_keys(schema)
    # "\"proto\":%s" in a format string: an escaped quote, the key, an escaped quote, a colon.
    printed = set(re.findall(r"\\\"([A-Za-z_][A-Za-z0-9_]*)\\\":", src))
    # The table of actions (proxy/decide/act.c) names the per-rule counters and the actions.
    # An action without a counter (accept) never alters a packet, so no event lists it.
    counters, events = set(), set()
    for entry in re.findall(r"\[RULE_ACT_\w+\]\s*=\s*\{([^}]*)\}", src):
        counter = re.search(r"\.counter\s*=\s*\"([^\"]*)\"", entry)
        event = re.search(r"\.event\s*=\s*\"([^\"]*)\"", entry)
        if counter and event:
            counters.add(counter.group(1))
            events.add(event.group(1))
    printed |= counters
    bad = sorted(printed - keys)
    for k in bad:
        print(f"writers: print key \"{k}\", which docs/events.schema.json does not define",
              file=sys.stderr)
    for a in sorted(events - enum_of(schema, "action", "properties", "action")):
        print(f"writers: name action \"{a}\", which docs/events.schema.json does not list",
              file=sys.stderr)
        bad.append(a)
    if not counters or not events:
        print(f"writers: found no table of actions (.counter, .event) in {' '.join(paths)}",
              file=sys.stderr)
        return 1
    if len(printed) < 60:
        print(f"writers: found only {len(printed)} keys in {' '.join(paths)}", file=sys.stderr)
        return 1
    if not bad:
        print(json.dumps({"keys": len(printed)}))
    return 1 if bad else 0


def type_of(schema, node):
    """A short type for a field: "integer", "string", "one of a, b", "array of ..."."""
    if node is True:
        return "any"
    if "$ref" in node:
        return type_of(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[1]])
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return "one of " + ", ".join(json.dumps(v) for v in node["enum"])
    if node.get("type") == "array":
        return "array of " + type_of(schema, node.get("items", True))
    return node.get("type", "any")


def fields(schema, node):
    """The fields of an object schema, those of its allOf parts included: (properties, required)."""
    props, req = {}, set(node.get("required", []))
    for part in [resolve(schema, a) for a in node.get("allOf", [])] + [node]:
        props.update(part.get("properties", {}))
        req |= set(part.get("required", []))
    return props, req


def doc_fields(schema, node, indent):
    props, req = fields(schema, node)
    for k, p in props.items():
        when = "always" if k in req else p.get("x-present", "")
        desc = resolve(schema, p).get("description", "")
        print(f"{indent}{k} ({type_of(schema, p)}; {when})\n{indent}    {desc}")
        # An object, or an array of objects: its own fields, indented.
        sub = resolve(schema, p)
        while isinstance(sub, dict) and ("$ref" in sub or sub.get("type") == "array"):
            sub = schema["$defs"][sub["$ref"].rsplit("/", 1)[1]] if "$ref" in sub else sub.get("items", {})
        if isinstance(sub, dict) and "properties" in sub:
            doc_fields(schema, sub, indent + "    ")


def cmd_doc(schema):
    for name in list(event_kinds(schema).values()) + ["counters", "replay-counters"]:
        node = schema["$defs"][name]
        print(f"{name}\n    {node['description']}")
        doc_fields(schema, node, "  ")
        print()
    return 0


SCDOC_HEAD = """faultline-events(5)

; Made from docs/events.schema.json by tests/tools/evschema.py scdoc: edit those.

# NAME

faultline-events - the event log and the counters of faultline

# DESCRIPTION

*faultline run --events* _FILE_ and *faultline replay --events* _FILE_ write
JSON lines: one object per line, each with *t*, the time in seconds since
faultline started (a replay: since the first packet's timestamp), and *ev*,
the kind of event. *faultline ctl events* and the HTTP API's *GET /events*
stream the same lines. The counters are one JSON object: printed by
*faultline run* on SIGUSR1 and at exit, by *faultline ctl stats* and
*GET /stats*, and by *faultline replay* at its end.

Every kind and every field is listed below with its type, when it is present
and what it means. Objects are closed: a field not listed here is never
written. This page is made from the JSON Schema (2020-12) that the tests
validate faultline's output against, and that the build checks the code's
readers and writers against: _/usr/share/doc/faultline/events.schema.json_
in the package, _docs/events.schema.json_ in the source tree.

Nested fields are named by their path: *actions[].rule* is the field *rule*
of each object in the array *actions*.
"""

SCDOC_TAIL = """
# SEE ALSO

*faultline*(8), *faultline-rules*(5), *jq*(1)
"""


def scdoc_escape(text):
    """scdoc reads '*' and '_' as bold and underline marks, '\\' as an escape,
    and a line that starts with '[', '|', ':' or '-' as a table or a list."""
    return re.sub(r"([\\*_])|^([\[|:-])", r"\\\1\2", str(text))


def scdoc_fields(schema, node, prefix, out):
    props, req = fields(schema, node)
    for k, p in props.items():
        when = "always" if k in req else p.get("x-present", "")
        desc = resolve(schema, p).get("description", "")
        out.append(f"*{scdoc_escape(prefix + k)}* ({scdoc_escape(type_of(schema, p))}; "
                   f"{scdoc_escape(when)})\n\t{scdoc_escape(desc)}\n")
        sub, path = resolve(schema, p), prefix + k
        while isinstance(sub, dict) and ("$ref" in sub or sub.get("type") == "array"):
            if "$ref" in sub:
                sub = schema["$defs"][sub["$ref"].rsplit("/", 1)[1]]
            else:
                sub, path = sub.get("items", {}), path + "[]"
        if isinstance(sub, dict) and "properties" in sub:
            scdoc_fields(schema, sub, path + ".", out)


def cmd_scdoc(schema, path):
    out = [SCDOC_HEAD, "\n# EVENTS\n"]
    for ev, name in event_kinds(schema).items():
        node = schema["$defs"][name]
        out.append(f"\n## {ev}\n\n{scdoc_escape(node['description'])}\n\n")
        scdoc_fields(schema, node, "", out)
    out.append("\n# COUNTERS\n")
    for name in ("counters", "replay-counters"):
        node = schema["$defs"][name]
        out.append(f"\n## {name}\n\n{scdoc_escape(node['description'])}\n\n")
        scdoc_fields(schema, node, "", out)
    out.append(SCDOC_TAIL)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(out))
    return 0


def cmd_check(schema):
    import glob
    top = os.path.join(os.path.dirname(SCHEMA_PATH), "..")
    reader = sorted(glob.glob(os.path.join(top, "cli", "evlog*.c")) +
                    glob.glob(os.path.join(top, "cli", "evlog", "*.c")))
    # The control layer writes replies to its clients, not events or counters (those it
    # passes on as the live layer wrote them): its keys are not the schema's.
    writers = sorted(f for f in glob.glob(os.path.join(top, "proxy", "**", "*.c"), recursive=True)
                     if os.sep + "control" + os.sep not in f)
    rc = cmd_check_schema(schema)
    rc |= cmd_check_reader(schema, reader)
    rc |= cmd_check_writers(schema, writers)
    # The reference text must come out of the schema too (it raises if it cannot).
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        cmd_doc(schema)
    return rc


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[1], argv[2:]
    schema = load_schema()
    if cmd == "events" and args:
        return cmd_events(schema, args)
    if cmd in ("counters", "replay-counters") and args:
        return cmd_counters(schema, cmd, args)
    if cmd == "check-schema" and not args:
        return cmd_check_schema(schema)
    if cmd == "doc" and not args:
        return cmd_doc(schema)
    if cmd == "scdoc" and len(args) == 1:
        return cmd_scdoc(schema, args[0])
    if cmd == "check" and not args:
        return cmd_check(schema)
    if cmd == "check-reader" and args:
        return cmd_check_reader(schema, args)
    if cmd == "check-writers" and args:
        return cmd_check_writers(schema, args)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
