#!/usr/bin/env python3
"""Runs the marked command blocks of README.md and docs/*.md and checks what they print.

A fenced block runs when the line before its fence (blank lines allowed between) is a marker:

  <!-- run -->         run the block in the page's scratch directory
  <!-- run: dev -->    the same, with a copy of the repository's dev/ in it first
  <!-- run: stop -->   stop the page's background commands (`cmd &`) first
  <!-- run: repo -->   run the block at the top of the repository (for commands that name its
                       files, such as rs/moq-relay/tests/browser/webtransport.mjs); nothing there
                       may be written
  <!-- file: NAME -->  do not run: write the block's text to NAME in the scratch directory
  <!-- output -->      the expected output of the script block run just before

Every other block is illustrative and never run, so new pages break nothing until marked.

A block whose lines start with `$ ` is a transcript: each `$ ` line (with `\\` continuation
lines) is a command, and the lines up to the next `$ ` line are what it prints (stdout and stderr
together). Any other block is one script, whose output is checked against a following
`<!-- output -->` block, if any. A command must exit 0, unless what it shows is a one-line error
(`error: …`, `moq-relay: …`, `clock: …`, `refused: …`: then it must fail) or `[exit N]` (then exactly N). A
command ending in `&` runs in the background: the runner waits (20 s at most) until it printed as
many lines as the doc shows, compares those, and stops it when the page ends.

Values that differ on every run are compared by shape: JWTs and other base64url runs, 64-digit hex
(fingerprints), 9+ digit numbers (times), log timestamps, and `…` in the doc matches anything.

`dev/doc-test.py --fix [PAGE…]` writes what each failing transcript command printed into the
page in place of what it showed (check the diff: values that differ on every run change too).

Each page runs in one bash, so variables carry from command to command, in a fresh directory
under target/doc-test/ (inside the workspace, so `cargo run` there uses the built crates), with
target/debug and target/debug/examples on PATH (docs say "with the built binaries on PATH").
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRATCH = os.path.join(ROOT, "target", "doc-test")
ERROR_PREFIXES = ("error:", "moq-relay:", "clock:", "refused:")
MARKER = re.compile(r"^<!--\s*(run|file|output)(?::\s*([^>]*?))?\s*-->\s*$")


def blocks(text):
    """(marker, option, info, lines, line number) of every fenced block that has a marker."""
    lines = text.split("\n")
    out = []
    i = 0
    marker = None
    while i < len(lines):
        line = lines[i]
        m = MARKER.match(line.strip())
        if m:
            marker = (m.group(1), (m.group(2) or "").strip(), i + 1)
            i += 1
            continue
        fence = re.match(r"^(\s*)(```+)(.*)$", line)
        if fence:
            indent, ticks, info = fence.groups()
            body = []
            i += 1
            while i < len(lines) and not re.match(r"^\s*" + ticks + r"\s*$", lines[i]):
                body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
                i += 1
            if marker:
                out.append((marker[0], marker[1], info.strip(), body, marker[2]))
            marker = None
            i += 1
            continue
        if line.strip():
            marker = None
        i += 1
    return out


def transcript(body):
    """[(command, [expected lines])] of a `$ ` block."""
    steps = []
    lines = list(body)
    while lines:
        line = lines.pop(0)
        if not line.startswith("$ "):
            if steps:
                steps[-1][1].append(line)
            continue
        command = line[2:]
        while command.endswith("\\") and lines:
            command = command + "\n" + lines.pop(0)
        steps.append((command, []))
    return steps


NORMALIZE = [
    (re.compile(r"\x1b\[[0-9;]*m"), ""),
    (re.compile(r"^\d{4}-\d\d-\d\dT[0-9:.]+Z\s+"), ""),
    (re.compile(r"eyJ[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*)*"), "<JWT>"),
    (re.compile(r"\b[0-9a-f]{64}\b"), "<HEX>"),
    (re.compile(r"\b([0-9A-F]{2}:){31}[0-9A-F]{2}\b"), "<HEX>"),
    (re.compile(r"[A-Za-z0-9_-]{20,}"), "<B64>"),
    (re.compile(r"\b\d{9,}\b"), "<N>"),
]


def normalize(line):
    for pattern, replacement in NORMALIZE:
        line = pattern.sub(replacement, line)
    return line.rstrip()


def matches(expected, actual):
    """Line by line after normalizing; `…` in an expected line matches any text."""
    expected = [normalize(l) for l in expected]
    actual = [normalize(l) for l in actual]
    while expected and not expected[-1]:
        expected.pop()
    while actual and not actual[-1]:
        actual.pop()
    if len(expected) != len(actual):
        return False
    for e, a in zip(expected, actual):
        pattern = "^" + ".*".join(re.escape(part) for part in e.split("…")) + "$"
        if not re.match(pattern, a):
            return False
    return True


def expected_exit(lines):
    for line in lines:
        m = re.match(r"^\[exit (\d+)\]$", line.strip())
        if m:
            return int(m.group(1)), [l for l in lines if l is not line]
    if lines and lines[0].startswith(ERROR_PREFIXES):
        return "nonzero", lines
    return 0, lines


class Page:
    """One bash for the page; commands are sent to it and their output read from files."""

    def __init__(self, name):
        self.dir = os.path.join(SCRATCH, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.n = 0
        self.background = []
        env = dict(os.environ)
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        env["PATH"] = os.pathsep.join([os.path.join(target, "debug"), os.path.join(target, "debug", "examples"), env["PATH"]])
        env.setdefault("RUST_LOG", "warn")
        env["NO_COLOR"] = "1"
        self.bash = subprocess.Popen(["bash", "--norc", "--noprofile"], cwd=self.dir, env=env, stdin=subprocess.PIPE, text=True)

    def send(self, script):
        self.bash.stdin.write(script + "\n")
        self.bash.stdin.flush()

    def run(self, command, timeout=120):
        """Runs `command` in the page's shell; returns (exit status, output lines)."""
        self.n += 1
        out = os.path.join(self.dir, ".out.%d" % self.n)
        rc = os.path.join(self.dir, ".rc.%d" % self.n)
        self.send("{\n%s\n} > %s 2>&1 < /dev/null; echo $? > %s.tmp; mv %s.tmp %s" % (command, out, rc, rc, rc))
        deadline = time.time() + timeout
        while not os.path.exists(rc):
            if time.time() > deadline:
                raise RuntimeError("still running after %d s" % timeout)
            time.sleep(0.02)
        with open(rc) as f:
            status = int(f.read().strip() or "0")
        with open(out, errors="replace") as f:
            return status, f.read().split("\n")

    def start(self, command, lines):
        """Runs `command` in the background; returns its first `lines` lines of output."""
        self.n += 1
        out = os.path.join(self.dir, ".out.%d" % self.n)
        pid = os.path.join(self.dir, ".pid.%d" % self.n)
        self.send("%s > %s 2>&1 < /dev/null &\necho $! > %s.tmp; mv %s.tmp %s" % (command.strip(), out, pid, pid, pid))
        deadline = time.time() + 20
        while not os.path.exists(pid):
            if time.time() > deadline:
                raise RuntimeError("did not start")
            time.sleep(0.02)
        with open(pid) as f:
            self.background.append(int(f.read().strip()))
        want = max(lines, 1)
        text = ""
        while time.time() < deadline:
            with open(out, errors="replace") as f:
                text = f.read()
            if text.count("\n") >= want:
                break
            time.sleep(0.05)
        return text.split("\n")[:lines]

    def stop(self):
        for pid in self.background:
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
        for pid in self.background:
            deadline = time.time() + 10
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        self.background = []

    def close(self):
        self.stop()
        self.bash.stdin.close()
        self.bash.wait()


FIXES = []


def check_page(path):
    text = open(path).read()
    found = blocks(text)
    if not any(kind == "run" for kind, *_ in found):
        return 0, 0
    name = os.path.relpath(path, ROOT).replace("/", "_")
    page = Page(name)
    failures = 0
    count = 0
    last_script = None
    try:
        for kind, option, info, body, line in found:
            where = "%s:%d" % (os.path.relpath(path, ROOT), line)
            if kind == "file":
                with open(os.path.join(page.dir, option), "w") as f:
                    f.write("\n".join(body) + "\n")
                continue
            if kind == "output":
                if last_script is None:
                    print("FAIL %s: an output block with no script block before it" % where)
                    failures += 1
                    continue
                status, actual, script_where = last_script
                count += 1
                if not matches(body, actual):
                    failures += 1
                    report(script_where, "(the script above)", body, actual, status)
                last_script = None
                continue
            if "stop" in option:
                page.stop()
            if "dev" in option and not os.path.exists(os.path.join(page.dir, "dev")):
                shutil.copytree(os.path.join(ROOT, "dev"), os.path.join(page.dir, "dev"))
            if "repo" in option:
                page.send("cd %s" % shlex.quote(ROOT))
            if any(l.startswith("$ ") for l in body):
                for command, expected in transcript(body):
                    count += 1
                    if command.rstrip().endswith("&"):
                        shown = [l for l in expected if not l.startswith("[exit")]
                        actual = page.start(command.rstrip()[:-1], len(shown))
                        if not matches(shown, actual):
                            failures += 1
                            report(where, command, shown, actual, "background")
                        continue
                    want, shown = expected_exit(expected)
                    status, actual = page.run(command)
                    ok_exit = status != 0 if want == "nonzero" else status == want
                    if not ok_exit or not matches(shown, actual):
                        failures += 1
                        report(where, command, shown, actual, status, want)
                        if ok_exit:
                            while actual and not actual[-1].strip():
                                actual.pop()
                            FIXES.append((path, command, expected, [l for l in expected if l not in shown], actual))
            else:
                count += 1
                status, actual = page.run("\n".join(body))
                if status != 0:
                    failures += 1
                    report(where, "\n".join(body), [], actual, status, 0)
                last_script = (status, actual, where)
            if "repo" in option:
                page.send("cd %s" % shlex.quote(page.dir))
    finally:
        page.close()
    return count, failures


def report(where, command, expected, actual, status, want=None):
    print("FAIL %s: %s" % (where, command.split("\n")[0]))
    if want is not None:
        print("  exit: %s (wanted %s)" % (status, "non-zero" if want == "nonzero" else want))
    print("  the doc shows:")
    for l in expected:
        print("    | " + l)
    print("  it printed:")
    for l in actual:
        print("    | " + l)


def fix():
    """Writes the outputs of FIXES into their pages (transcript commands only)."""
    for path, command, expected, extra, actual in FIXES:
        text = open(path).read()
        indent = ""
        for line in text.split("\n"):
            if line.strip() == "$ " + command.split("\n")[0]:
                indent = line[: len(line) - len(line.lstrip())]
                break
        old = "\n".join(indent + l if l else l for l in ["$ " + command] + expected)
        new = "\n".join(indent + l if l else l for l in ["$ " + command] + actual + extra)
        if text.count(old + "\n") == 1:
            open(path, "w").write(text.replace(old + "\n", new + "\n"))
            print("fixed %s: %s" % (os.path.relpath(path, ROOT), command.split("\n")[0]))


def main():
    args = sys.argv[1:]
    fixing = "--fix" in args
    args = [a for a in args if a != "--fix"]
    pages = args or [os.path.join(ROOT, "README.md")] + sorted(
        os.path.join(ROOT, "docs", p) for p in os.listdir(os.path.join(ROOT, "docs")) if p.endswith(".md")
    )
    total = failed = 0
    started = time.time()
    for page in pages:
        count, failures = check_page(page)
        if count:
            print("%-28s %3d commands, %d failed" % (os.path.relpath(page, ROOT), count, failures))
        total += count
        failed += failures
    print("doc commands: %d run, %d failed (%.1f s)" % (total, failed, time.time() - started))
    if fixing:
        fix()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
