"""docs/configuration.md stays true to the binary.

- Every flag `--help` prints has an entry under OPTIONS that names the flag with its value
  syntax, its environment variable, and the default `--help` prints.
- Every command `--help` lists is documented.
- Every variable `--help` lists under "Environment only" is documented under ENVIRONMENT.
- Every policy-file field the binary accepts (its own error messages list them) is documented
  under POLICY FILE.
- Every Tecnativa-style switch the binary reads has a row in the switch tables; a section
  switch's row gives the route the binary allows for it and its default (on/off).
- Every `console` block runs: each `$ command` is run by /bin/sh in a scratch directory (with
  the `<!-- file: NAME -->` YAML blocks written into it) and must print exactly the lines
  under it (stderr, which the binary writes unbuffered, before stdout).

No Docker engine is needed: only --help, check and explain, which touch no socket.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from proxytest import REPO

DOC_PATH = REPO / "docs" / "configuration.md"
SWITCHES_SOURCE = REPO / "src" / "policy" / "policy_switches.cpp"

# `  --volume DIR          SOCKET_PROXY_VOLUME, default /run/proxy`
HELP_FLAG_LINE = re.compile(
    r"^  (?P<flag>--[a-z][a-z0-9-]*)(?: (?P<value>\S+))?\s+(?P<variable>[A-Z][A-Z0-9_]*), "
    r"default (?P<default>.+?)\s*$")
# `  7  switch-CONTAINERS: allow GET,HEAD /containers/**`
SWITCH_RULE_LINE = re.compile(r"^\s*\d+\s+switch-(?P<name>[A-Z_]+): allow GET,HEAD (?P<path>\S+)$")
IGNORED_SWITCH_WARNING = re.compile(
    r"warning: (?P<name>[A-Z][A-Z0-9_]*) is set but not to a boolean")


def _doc_text() -> str:
    return DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""


def _section(text: str, title: str) -> str:
    """The body of the `## TITLE` section, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"{DOC_PATH} has no section '## {title}'"
    return match.group(1)


def _base_environment(drop: set) -> dict:
    """The test's environment without anything the proxy would read as a setting or switch."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("SOCKET_PROXY_", "DOCKER_")) and k not in drop and k != "DEBUG"}


def _run(binary: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=30)


# --- --help -> OPTIONS -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def help_text(binary) -> str:
    result = _run(binary, "--help", env=_base_environment(set()))
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def help_flags(help_text) -> list:
    flags = [m.groupdict() for line in help_text.splitlines() if (m := HELP_FLAG_LINE.match(line))]
    # A change to the help layout must break this test, not empty its list.
    assert len(flags) >= 15, f"parsed only {len(flags)} flags from --help:\n{help_text}"
    assert "--volume" in [f["flag"] for f in flags] and "--debug" in [f["flag"] for f in flags]
    return flags


def _option_entries(doc: str) -> dict:
    """`### ` heading -> body, for the OPTIONS section."""
    options = _section(doc, "OPTIONS")
    parts = re.split(r"^### (.+)$", options, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _entry_for(entries: dict, flag: str) -> tuple:
    found = [(heading, body) for heading, body in entries.items()
             if re.search(rf"`{re.escape(flag)}(?=[ `=\[])", heading)]
    assert len(found) == 1, (f"docs/configuration.md OPTIONS has {len(found)} entries headed by "
                             f"{flag} (want exactly one): {[h for h, _ in found]}")
    return found[0]


def test_every_flag_has_an_entry_with_its_variable_and_default(help_flags):
    entries = _option_entries(_doc_text())
    problems = []
    for option in help_flags:
        flag, value, variable, default = (option["flag"], option["value"], option["variable"],
                                          option["default"])
        try:
            heading, body = _entry_for(entries, flag)
        except AssertionError as missing:
            problems.append(str(missing))
            continue
        if value and f"`{flag} {value}`" not in heading:
            problems.append(f"the entry '{heading}' does not show the value syntax "
                            f"`{flag} {value}` that --help prints")
        if f"`{variable}`" not in body:
            problems.append(f"the entry for {flag} does not name its variable `{variable}`")
        stated = re.compile(rf"\bdefault:?\s+`?{re.escape(default)}`?(?![\w/:\[\]-]|\.\w)", re.I)
        if not stated.search(body):
            problems.append(f"the entry for {flag} does not say 'default {default}', "
                            f"as --help does")
    assert not problems, "\n".join(problems)


def test_every_command_is_documented(help_text):
    commands = help_text.split("\nCommands:\n", 1)
    assert len(commands) == 2, "--help has no 'Commands:' section"
    words = []
    for line in commands[1].splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            names = re.split(r"\s{2,}", line.strip())[0]
            words += [name.split()[0] for name in names.split(", ")]
    assert {"check", "explain", "healthcheck"} <= set(words), words
    doc = _doc_text()
    synopsis, documented = _section(doc, "SYNOPSIS"), _section(doc, "COMMANDS")
    for word in words:
        assert re.search(rf"`{re.escape(word)}[` ]", documented), \
            f"COMMANDS in docs/configuration.md does not document {word}"
        assert word in synopsis, f"SYNOPSIS in docs/configuration.md does not show {word}"
    assert "--client" in documented


def test_explain_client_forms_match_the_synopsis(help_text):
    """--help and the SYNOPSIS name the same kinds of client explain can decide for."""
    def forms(text):
        text = re.sub(r"\|\s+", "|", text)  # a form list wrapped after a '|'
        found = re.search(r"--client (unix:[^\]\s]+)", text)
        assert found, f"no --client in {text[:200]!r}"
        return {form.split(":", 1)[0] for form in found.group(1).split("|")}
    synopsis = _section(_doc_text(), "SYNOPSIS")
    assert forms(help_text) == forms(synopsis) >= {"unix", "tcp", "tls"}


def test_environment_only_variables_are_documented(help_text):
    listed = help_text.split("\nEnvironment only:\n", 1)
    if len(listed) == 1:
        pytest.skip("this binary's --help has no 'Environment only:' list")
    names = []
    for line in listed[1].split("\n\n", 1)[0].splitlines():
        if line.startswith("  ") and not line.startswith("   "):
            names += re.findall(r"\b[A-Z][A-Z0-9_]{1,}\b", line.strip().split("  ")[0])
    assert "TZ" in names, listed[1]
    environment = _section(_doc_text(), "ENVIRONMENT")
    missing = [name for name in names if f"`{name}`" not in environment]
    assert not missing, f"--help lists {missing} but ENVIRONMENT in docs/configuration.md does not"


# --- policy file fields ----------------------------------------------------------------------

def _fields_the_binary_lists(binary: str, tmp_path: Path, policy: str, prompt: str) -> list:
    """Loads a policy with an unknown field; the error line lists the fields that exist."""
    (tmp_path / "fields.yaml").write_text(policy, encoding="utf-8")
    result = subprocess.run([str(Path(binary).resolve()), "check", "--policy", "fields.yaml"],
                            cwd=tmp_path,
                            env=_base_environment(set(_switch_names_in_source())),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result
    listed = re.search(re.escape(prompt) + r" (.+)$", result.stderr.strip())
    assert listed, f"no '{prompt}' list in: {result.stderr}"
    fields = re.split(r", | and ", listed.group(1))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", field) for field in fields), fields
    return fields


def test_every_policy_field_is_documented(binary, tmp_path):
    section = _section(_doc_text(), "POLICY FILE")
    problems = []
    top_level = _fields_the_binary_lists(binary, tmp_path, "unknown_field: 1\n",
                                         "is not a policy field: use")
    rule_fields = _fields_the_binary_lists(
        binary, tmp_path, "rules:\n  - {name: a, action: allow, unknown_field: 1}\n",
        "is not a rule field: use")
    for field in top_level + rule_fields:
        # A definition-list term: `name` or `name` (required), alone on its line.
        if not re.search(rf"^`{field}`( \(required\))?$", section, re.M):
            problems.append(f"field {field!r} has no entry")
    selector_fields = _fields_the_binary_lists(
        binary, tmp_path, "rules:\n  - {name: a, action: allow, clients: {unknown_field: 1}}\n",
        "is not a selector field: use")
    selector_lines = [line for line in section.splitlines() if line.lstrip().startswith("- `")]
    for field in selector_fields:
        if not any(f"`{field}`" in line for line in selector_lines):
            problems.append(f"client selector field {field!r} is not listed")
    assert not problems, "docs/configuration.md POLICY FILE: " + "; ".join(problems)


# --- Tecnativa-style switches ----------------------------------------------------------------

def _switch_names_in_source() -> list:
    """The names in policy_switches.cpp's sections table and method-switch list."""
    source = SWITCHES_SOURCE.read_text(encoding="utf-8")
    sections = re.findall(r'Section\{"([A-Z_]+)",', source)
    methods_list = re.search(r"method_switches\{(.*?)\};", source, re.S)
    methods = re.findall(r'"([A-Z_]+)"', methods_list.group(1)) if methods_list else []
    return sections + methods


def _uppercase_words_in_binary(binary: str) -> set:
    """Every upper-case word in the binary: a switch added anywhere is among them."""
    data = Path(binary).read_bytes()
    words = {m.group().decode() for m in
             re.finditer(rb"(?<![A-Za-z0-9_])[A-Z][A-Z_]{2,30}(?![A-Za-z0-9_])", data)}
    # Variables the C library or loader reads: not ours to set to junk.
    return {w for w in words if not w.startswith(("LD_", "GLIBC", "MALLOC", "GCONV", "LOC"))
            and w not in {"PATH", "HOME", "TMPDIR", "LANG", "POSIXLY_CORRECT"}}


@pytest.fixture(scope="module")
def switches(binary, help_flags) -> dict:
    """What the binary does with the switches: {"read": set, "sections": {name: path},
    "on_by_default": set}. Derived from `check`'s output, not from the source."""
    from_source = _switch_names_in_source()
    assert len(from_source) >= 20, f"parsed only {from_source} from {SWITCHES_SOURCE}"
    settings = {f["variable"] for f in help_flags}
    candidates = (set(from_source) | _uppercase_words_in_binary(binary)) - settings
    base = _base_environment(candidates)

    # With one switch set to a boolean the switches are in use, and every other name the binary
    # reads as a switch, set to a non-boolean, is named in a warning. Two anchors, so that each
    # anchor is probed by the other run.
    read = set()
    for anchor in from_source[:2]:
        env = {**base, **{name: "x" for name in candidates}, anchor: "1"}
        result = _run(binary, "check", env=env)
        assert result.returncode == 0, result.stderr
        assert "Tecnativa-style switches" in result.stdout, result.stdout
        read |= {m.group("name") for m in IGNORED_SWITCH_WARNING.finditer(result.stderr)}
    assert set(from_source) <= read, \
        f"names in {SWITCHES_SOURCE.name} the binary does not read: {set(from_source) - read}"

    # Every switch on, POST=0: each section is one `switch-NAME: allow GET,HEAD PATH` rule.
    result = _run(binary, "check", env={**base, **{name: "1" for name in read}, "POST": "0"})
    assert result.returncode == 0, result.stderr
    sections = {m.group("name"): m.group("path") for line in result.stdout.splitlines()
                if (m := SWITCH_RULE_LINE.match(line))}
    assert len(sections) >= 15, result.stdout

    # POST=0 alone changes no section: the sections listed are the ones on by default.
    result = _run(binary, "check", env={**base, "POST": "0"})
    assert result.returncode == 0, result.stderr
    on_by_default = {m.group("name") for line in result.stdout.splitlines()
                     if (m := SWITCH_RULE_LINE.match(line))}
    return {"read": read, "sections": sections, "on_by_default": on_by_default}


def _switch_rows(doc: str) -> dict:
    """Variable -> its table cells, from the ENVIRONMENT section's switch tables."""
    rows = {}
    for line in _section(doc, "ENVIRONMENT").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 3:
            rows[cells[0].strip("`")] = cells
    return rows


def test_every_switch_is_documented(switches):
    rows = _switch_rows(_doc_text())
    missing = sorted(switches["read"] - rows.keys())
    assert not missing, \
        f"switches the binary reads but docs/configuration.md does not list: {missing}"


def test_section_switches_state_their_route_and_default(switches):
    rows = _switch_rows(_doc_text())
    problems = []
    for name, path in sorted(switches["sections"].items()):
        cells = rows.get(name)
        if cells is None:
            problems.append(f"{name}: no row")
            continue
        default = "on" if name in switches["on_by_default"] else "off"
        if cells[1].split()[0] != default:
            problems.append(f"{name}: the row says default {cells[1]!r}, the binary: {default}")
        if f"`{path}`" not in cells[2]:
            problems.append(f"{name}: the row says {cells[2]!r}, the binary allows `{path}`")
    assert not problems, "\n".join(problems)


# --- console examples ------------------------------------------------------------------------

def _doc_examples(doc: str) -> tuple:
    """({file name: text}, [(command, expected output lines)]) from the fenced blocks."""
    files, commands = {}, []
    pending_file = None
    lines = doc.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        marker = re.match(r"<!-- file: (\S+) -->", line)
        if marker:
            pending_file = marker.group(1)
        elif line.startswith("```"):
            kind = line[3:].strip()
            end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
            block = lines[index + 1:end]
            if pending_file is not None and kind == "yaml":
                files[pending_file] = "\n".join(block) + "\n"
            if kind == "console":
                for block_line in block:
                    if block_line.startswith("$ "):
                        commands.append((block_line[2:], []))
                    elif commands:
                        commands[-1][1].append(block_line)
            pending_file = None
            index = end
        index += 1
    return files, commands


DOC_FILES, DOC_COMMANDS = _doc_examples(_doc_text())


def test_the_doc_has_examples_to_run():
    assert len(DOC_COMMANDS) >= 10, DOC_COMMANDS
    assert "policy.yaml" in DOC_FILES


@pytest.fixture(scope="module")
def example_directory(binary, tmp_path_factory):
    """A working directory with the doc's files, and `socket-proxy` first on PATH."""
    directory = tmp_path_factory.mktemp("docs")
    for name, text in DOC_FILES.items():
        (directory / name).write_text(text, encoding="utf-8")
    bin_directory = directory / "bin"
    bin_directory.mkdir()
    (bin_directory / "socket-proxy").symlink_to(Path(binary).resolve())
    return directory


@pytest.mark.parametrize("command,expected", DOC_COMMANDS, ids=[c for c, _ in DOC_COMMANDS])
def test_console_example_prints_what_the_doc_shows(example_directory, command, expected):
    env = _base_environment(set(_switch_names_in_source()))
    env["PATH"] = f"{example_directory / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    result = subprocess.run(["/bin/sh", "-c", command], cwd=example_directory, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    assert result.stdout.splitlines() == expected, (
        f"$ {command}\n--- docs/configuration.md shows ---\n" + "\n".join(expected) +
        f"\n--- the binary printed ---\n{result.stdout}")
