"""Write one Markdown page per role from its argument specs.

    python docs/generate.py            write docs/roles/<role>.md and docs/roles/README.md
    python docs/generate.py --check    write nothing; exit 1 naming every page that differs

For each directory in roles/, the page is made from:

- roles/<role>/meta/argument_specs.yml: the main entry point's short_description
  and description open the page; every entry point gets a section with each
  option (type, required, default, choices, elements, description, no_log) and
  its suboptions;
- roles/<role>/meta/main.yml: platforms, dependencies (and the minimum Ansible
  version, unless meta/runtime.yml gives the collection's requires_ansible);
- docs/roles/_intro/<role>.md, when present: hand-written usage notes, placed
  between the opening and the variable reference.

Output depends only on those files (roles sorted by name, options in spec
order), so a page that differs from what this script writes is stale.
Needs Python 3 and PyYAML.
"""

import argparse
import difflib
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "divan.platform"
INLINE_MAX = 60  # longer defaults are shown as a YAML block
GENERATOR = "docs/generate.py"


# --- text ------------------------------------------------------------------

def _escape_plain(text):
    """Escape what Markdown would take for HTML, emphasis or an escape in plain prose."""
    return text.replace("\\", "\\\\").replace("<", "\\<").replace("*", "\\*")


def prose(text):
    """One description string as Markdown: ansible-doc markup converted, the rest escaped."""
    text = " ".join(str(text).split())
    kept = []

    def keep(markdown):
        kept.append(markdown)
        return "\0%d\0" % (len(kept) - 1)

    text = re.sub(r"(`+)(.+?)\1", lambda m: keep(m.group(0)), text)
    text = re.sub(r"\bL\(([^,()]+),\s*([^()]+)\)",
                  lambda m: keep("[%s](%s)" % (_escape_plain(m.group(1)), m.group(2))), text)
    text = re.sub(r"\bU\(([^()]+)\)", lambda m: keep("<%s>" % m.group(1)), text)
    text = re.sub(r"\b[CVOM]\(([^()]+)\)", lambda m: keep(code(m.group(1))), text)
    text = re.sub(r"\bI\(([^()]+)\)", lambda m: keep("*%s*" % _escape_plain(m.group(1))), text)
    text = re.sub(r"\bB\(([^()]+)\)", lambda m: keep("**%s**" % _escape_plain(m.group(1))), text)
    text = _escape_plain(text)
    return re.sub("\0(\\d+)\0", lambda m: kept[int(m.group(1))], text)


def paragraphs(description):
    if description is None:
        return []
    if isinstance(description, str):
        description = [description]
    return [prose(p) for p in description if str(p).strip()]


def code(value):
    """An inline code span that survives backticks in the value."""
    text = str(value)
    fence = "`"
    while fence in text:
        fence += "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return "%s%s%s%s%s" % (fence, pad, text, pad, fence)


def cell(text):
    return text.replace("|", "\\|")


class Slugs:
    """GitHub's heading anchors, with its -1, -2 suffixes for repeated headings."""

    def __init__(self):
        self.seen = {}

    def add(self, heading):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = self.seen.get(slug, 0)
        self.seen[slug] = count + 1
        return slug if count == 0 else "%s-%d" % (slug, count)


# --- values ------------------------------------------------------------------

def _flow(value):
    if isinstance(value, str):
        return '""' if value == "" else value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return yaml.safe_dump(value, default_flow_style=True, width=float("inf"), sort_keys=False).strip()


def inline_default(value):
    """The default as inline text, or None when it needs a YAML block."""
    if isinstance(value, str) and ("\n" in value.strip() or len(value) > INLINE_MAX):
        return None
    text = _flow(value)
    if "\n" in text or len(text) > INLINE_MAX:
        return None
    return text


class _IndentedDumper(yaml.SafeDumper):  # pylint: disable=too-many-ancestors
    """Indent list items under their key, as the roles' defaults files do."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def block_default(name, value):
    return yaml.dump({name: value}, Dumper=_IndentedDumper, default_flow_style=False, sort_keys=False,
                     width=float("inf"), allow_unicode=True)


def type_text(spec):
    kind = spec.get("type", "str")
    if spec.get("elements"):
        return "%s of %s" % (code(kind), code(spec["elements"]))
    return code(kind)


# --- pages -------------------------------------------------------------------

class SourceError(Exception):
    """A role file the pages are made from cannot be read."""


def _load_yaml(path):
    if not path.exists():
        return None
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SourceError("%s: %s" % (path, " ".join(str(exc).split()))) from exc


def load_role(role_dir):
    specs = _load_yaml(role_dir / "meta" / "argument_specs.yml")
    meta = _load_yaml(role_dir / "meta" / "main.yml")
    return {
        "name": role_dir.name,
        "entry_points": ((specs or {}).get("argument_specs") or {}),
        "meta": meta or {},
    }


def _option_lines(name, spec, slugs, heading):
    lines = ["%s %s" % (heading, code(name)), ""]
    slugs.add(name)
    for para in paragraphs(spec.get("description")):
        lines += [para, ""]
    facts = ["- Type: %s" % type_text(spec)]
    block = None
    if spec.get("required"):
        facts.append("- Required: yes")
    elif "default" in spec:
        text = inline_default(spec["default"])
        if text is None:
            facts.append("- Default: see below")
            block = block_default(name, spec["default"])
        else:
            facts.append("- Default: %s" % code(text))
    else:
        facts.append("- Default: not set")
    if spec.get("choices"):
        facts.append("- Choices: %s" % ", ".join(code(_flow(c)) for c in spec["choices"]))
    if spec.get("no_log"):
        facts.append("- Secret: never logged (`no_log`)")
    lines += facts + [""]
    if block:
        lines += ["```yaml", block.rstrip("\n"), "```", ""]
    if spec.get("options"):
        lines += _suboption_table(name, spec["options"])
    return lines


def _suboption_rows(options, prefix):
    for sub, spec in options.items():
        spec = spec or {}
        path = prefix + sub
        if spec.get("required"):
            default = "required"
        elif "default" in spec:
            text = inline_default(spec["default"])
            default = code(text if text is not None else _flow(spec["default"]))
        else:
            default = ""
        notes = " ".join(paragraphs(spec.get("description")))
        if spec.get("choices"):
            notes += (" " if notes else "") + "Choices: %s." % ", ".join(code(_flow(c)) for c in spec["choices"])
        if spec.get("no_log"):
            notes += (" " if notes else "") + "Never logged."
        yield "| %s | %s | %s | %s |" % (cell(code(path)), cell(type_text(spec)), cell(default), cell(notes))
        if spec.get("options"):
            yield from _suboption_rows(spec["options"], path + ".")


def _suboption_table(name, options):
    return ["Keys of each %s entry:" % code(name), "",
            "| key | type | default | description |", "|---|---|---|---|"] + list(_suboption_rows(options, "")) + [""]


def _overview(options, slugs_preview):
    rows = ["| variable | type | default |", "|---|---|---|"]
    for name, spec in options.items():
        spec = spec or {}
        if spec.get("required"):
            default = "**required**"
        elif "default" in spec:
            text = inline_default(spec["default"])
            default = "see below" if text is None else code(text)
        else:
            default = "not set"
        rows.append("| [%s](#%s) | %s | %s |" % (
            cell(code(name)), slugs_preview.add(name), cell(type_text(spec)), cell(default)))
    return rows + [""]


def _intro_headings(text, slugs):
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            slugs.add(re.sub(r"[`*]", "", line.lstrip("#")))


def render_role(role, intro=None):
    """The Markdown page of one role (role: what load_role returns)."""
    name = role["name"]
    fqcn = "%s.%s" % (NAMESPACE, name)
    entry_points = role["entry_points"]
    main = entry_points.get("main") or {}
    info = (role["meta"].get("galaxy_info") or {})
    slugs = Slugs()
    lines = [
        "<!-- Generated by %s from roles/%s/meta/argument_specs.yml, roles/%s/meta/main.yml"
        " and docs/roles/_intro/%s.md. Edit those and run `make docs`. -->" % (GENERATOR, name, name, name),
        "",
        "# %s" % fqcn,
        "",
    ]
    slugs.add(fqcn)
    summary = main.get("short_description") or info.get("description")
    if summary:
        lines += [prose(summary), ""]
    for para in paragraphs(main.get("description")):
        lines += [para, ""]

    lines += ["## Requirements", ""]
    slugs.add("Requirements")
    platforms = info.get("platforms") or []
    for platform in platforms:
        versions = ", ".join(str(v) for v in platform.get("versions") or [])
        lines.append("- Platform: %s%s" % (platform.get("name", ""), " (%s)" % versions if versions else ""))
    if role.get("requires_ansible"):
        lines.append("- ansible-core: %s (the collection's `requires_ansible`)" % code(role["requires_ansible"]))
    elif info.get("min_ansible_version"):
        lines.append("- Ansible: %s or later" % info["min_ansible_version"])
    dependencies = role["meta"].get("dependencies") or []
    deps = ", ".join(code(d if isinstance(d, str) else d.get("role", d.get("name", ""))) for d in dependencies)
    lines += ["- Role dependencies: %s" % (deps or "none"), ""]

    if intro and intro.strip():
        lines += [intro.strip("\n"), ""]
        _intro_headings(intro, slugs)

    lines += ["## Role variables", ""]
    slugs.add("Role variables")
    if not entry_points:
        lines += ["This role has no argument specs.", ""]
    for entry, spec in entry_points.items():
        spec = spec or {}
        options = spec.get("options") or {}
        heading = "Entry point `%s`" % entry
        lines += ["### " + heading, ""]
        slugs.add(heading)
        if entry == "main":
            lines += ["Used by `roles:` and `include_role: name=%s`." % fqcn, ""]
        else:
            lines += ["Used by `include_role` or `import_role` with `name: %s` and `tasks_from: %s`." % (fqcn, entry), ""]
            if spec.get("short_description"):
                lines += [prose(spec["short_description"]), ""]
            for para in paragraphs(spec.get("description")):
                lines += [para, ""]
        if not options:
            lines += ["No options.", ""]
            continue
        # The overview links to the option headings written below it: reserve
        # their anchors in the order they will appear.
        preview = Slugs()
        preview.seen = dict(slugs.seen)
        lines += _overview(options, preview)
        for option, option_spec in options.items():
            lines += _option_lines(option, option_spec or {}, slugs, "####")
    return "\n".join(lines).rstrip("\n") + "\n"


def render_index(roles):
    lines = [
        "<!-- Generated by %s from roles/*/meta/argument_specs.yml and roles/*/meta/main.yml."
        " Run `make docs`. -->" % GENERATOR,
        "",
        "# Roles of %s" % NAMESPACE,
        "",
        "One page per role, generated from the role's argument specs: what it does,"
        " how to use it, and every variable with its type and default.",
        "",
        "| role | what it does | platforms | entry points |",
        "|---|---|---|---|",
    ]
    for role in roles:
        main = role["entry_points"].get("main") or {}
        info = role["meta"].get("galaxy_info") or {}
        summary = main.get("short_description") or info.get("description") or ""
        platforms = "; ".join(
            "%s %s" % (p.get("name", ""), ", ".join(str(v) for v in p.get("versions") or []))
            for p in info.get("platforms") or [])
        entries = ", ".join(code(e) for e in role["entry_points"]) or "none"
        lines.append("| [%s.%s](%s.md) | %s | %s | %s |" % (
            NAMESPACE, role["name"], role["name"], cell(prose(summary)), cell(platforms.strip()), cell(entries)))
    lines += ["", "Modules: [../modules.md](../modules.md) and `ansible-doc %s.<module>`." % NAMESPACE, ""]
    return "\n".join(lines)


def expected_pages(roles_dir, out_dir):
    """{path: text} of every page the generator owns."""
    roles = [load_role(d) for d in sorted(roles_dir.iterdir(), key=lambda p: p.name)
             if d.is_dir() and (d / "meta").is_dir()]
    runtime = _load_yaml(roles_dir.parent / "meta" / "runtime.yml") or {}
    for role in roles:
        role["requires_ansible"] = runtime.get("requires_ansible")
    intro_dir = out_dir / "_intro"
    pages = {}
    for role in roles:
        intro_file = intro_dir / ("%s.md" % role["name"])
        intro = intro_file.read_text(encoding="utf-8") if intro_file.exists() else None
        pages[out_dir / ("%s.md" % role["name"])] = render_role(role, intro)
    pages[out_dir / "README.md"] = render_index(roles)
    return pages


def stale_pages(pages, out_dir):
    """Pages that differ from what would be written, and generated pages with no role left."""
    stale = [path for path, text in pages.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    if out_dir.is_dir():
        for path in sorted(out_dir.glob("*.md")):
            if path not in pages and path.read_text(encoding="utf-8").startswith("<!-- Generated by %s" % GENERATOR):
                stale.append(path)
    return sorted(stale)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a page is stale")
    parser.add_argument("--roles", type=Path, default=ROOT / "roles", help="roles directory (default: %(default)s)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "roles", help="pages directory (default: %(default)s)")
    parser.add_argument("--diff", action="store_true", help="with --check, print a diff of each stale page")
    args = parser.parse_args(argv)

    try:
        pages = expected_pages(args.roles, args.output)
    except SourceError as exc:
        print("docs: cannot read %s" % exc)
        return 2
    stale = stale_pages(pages, args.output)
    if args.check:
        if not stale:
            print("docs: %d pages up to date" % len(pages))
            return 0
        for path in stale:
            state = "missing" if not path.exists() else ("no role" if path not in pages else "stale")
            print("docs: %s: %s" % (path, state))
            if args.diff and path in pages and path.exists():
                sys.stdout.writelines(difflib.unified_diff(
                    path.read_text(encoding="utf-8").splitlines(True), pages[path].splitlines(True),
                    str(path), "generated"))
        print("docs: run `make docs` (python %s) and commit the result" % GENERATOR)
        return 1
    args.output.mkdir(parents=True, exist_ok=True)
    for path in stale:
        if path in pages:
            path.write_text(pages[path], encoding="utf-8")
            print("docs: wrote %s" % path)
        else:
            path.unlink()
            print("docs: removed %s (no such role)" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
