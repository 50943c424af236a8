#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The options of faultline's --help texts against its man page and its
bash completion.

  mancheck.py FAULTLINE PAGE.scd [COMPLETION.bash]

Runs FAULTLINE --help, and COMMAND --help for every command that text lists,
and collects each long option (--name) and each short alias written beside
one ("-r, --rule", "-r/--rule"). Every one must be in the man page's scdoc
source, and every option the page names must be in some --help text. Each
difference is one line naming the option, where it was seen and the page;
exit status 1 if there is any, 0 otherwise, 2 on bad usage.
With COMPLETION, the words of its NAME_opts='...' lists must be the same
options too (each short alias as itself).
"""
import os
import re
import subprocess
import sys

# An option word: not inside another word or path (no letter, digit, '-' or
# '/' before it), ending in a letter or digit.
LONG = re.compile(r"(?<![\w/-])--[a-z][a-z0-9-]*[a-z0-9]")
PAIR = re.compile(r"(?<![\w/-])(-[A-Za-z])(?:, |/)(--[a-z][a-z0-9-]*[a-z0-9])")


def options(text):
    """The long options and the short-long pairs of a text."""
    return set(LONG.findall(text)) | {f"{s} {l}" for s, l in PAIR.findall(text)}


def commands(top_help):
    """The commands the top-level help lists: the first word of each line of
    its "commands:" block."""
    found, inside = [], False
    for line in top_help.splitlines():
        if line.strip() == "commands:":
            inside = True
            continue
        if inside:
            if not line.strip():
                break
            m = re.match(r"  ([a-z][a-z0-9-]*)\s", line)
            if m:
                found.append(m.group(1))
    return found


def run_help(exe, args):
    p = subprocess.run([exe] + args, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout


def page_text(path):
    """The scdoc source without its comment lines and formatting marks."""
    with open(path, encoding="utf-8") as f:
        lines = [l for l in f if not l.startswith(";")]
    return re.sub(r"\\?[*_]", "", "".join(lines))


def completion_words(path):
    """The words of the completion's NAME_opts='...' lists."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    words = set()
    for body in re.findall(r"\b\w+_opts='([^']*)'", text):
        words |= {w for w in body.split() if w.startswith("-")}
    return words


def compare_completion(seen, path):
    """Each long option and short alias of the help texts against the completion."""
    want = {}
    for o, where in seen.items():
        for w in o.split():
            want.setdefault(w, where)
    have = completion_words(path)
    bad = 0
    for w in sorted(set(want) - have):
        print(f"mancheck: {w} is in `{want[w]}` but not offered by the completion: add it to "
              f"its command's *_opts list in {path}")
        bad += 1
    for w in sorted(have - set(want)):
        print(f"mancheck: {w} is offered by the completion ({path}) but in no --help text")
        bad += 1
    return bad


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    exe, page = argv[1], argv[2]
    name = os.path.basename(page).split(".")[0]
    section = os.path.basename(page).split(".")[1]
    title = f"{name}({section}) ({page})"

    rc, top = run_help(exe, ["--help"])
    if rc != 0 or not top:
        print(f"mancheck: {exe} --help failed (exit {rc})", file=sys.stderr)
        return 1
    cmds = commands(top)
    if not cmds:
        print(f"mancheck: no 'commands:' block in {exe} --help", file=sys.stderr)
        return 1
    # Where each option was seen: the first help text that has it.
    seen = {o: "faultline --help" for o in options(top)}
    for c in cmds:
        rc, text = run_help(exe, [c, "--help"])
        # A command that takes no options (version) refuses --help: its
        # line in the top-level text is its help.
        if rc != 0:
            continue
        for o in options(text):
            seen.setdefault(o, f"faultline {c} --help")

    in_page = options(page_text(page))
    bad = 0
    for o in sorted(set(seen) - in_page):
        what = f"'{o.replace(' ', ', ')}'" if " " in o else o
        print(f"mancheck: {what} is in `{seen[o]}` but not in {title}: describe it there")
        bad += 1
    for o in sorted(in_page - set(seen)):
        what = f"'{o.replace(' ', ', ')}'" if " " in o else o
        print(f"mancheck: {what} is in {title} but in no --help text "
              f"(faultline --help, faultline COMMAND --help for {', '.join(cmds)})")
        bad += 1
    if len(argv) == 4:
        bad += compare_completion(seen, argv[3])
    if bad:
        return 1
    print(f"mancheck: {len(seen)} options and aliases of {len(cmds)} commands' help, "
          f"all in {title}{' and the completion' if len(argv) == 4 else ''}, and no other")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
