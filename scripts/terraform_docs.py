"""Write terraform-docs style tables into the READMEs of terraform/ and its modules.

Each README gets, between the lines ``<!-- BEGIN_TF_DOCS -->`` and ``<!-- END_TF_DOCS -->``,
tables of the requirements, providers, module calls, resources, inputs and outputs, read from
the module's ``.tf`` files with python-hcl2 (the terraform-docs binary is not installable from
the registries this project uses). ``--check`` only reports READMEs whose tables are stale.

Usage:
    python scripts/terraform_docs.py [--check]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "terraform"
BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"
REGISTRY = "https://registry.terraform.io/providers/hashicorp/{provider}/latest/docs/{kind}/{name}"
_INTERPOLATION = re.compile(r"^\$\{(.*)\}$", re.DOTALL)


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals and wraps expressions in ${...}."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1].replace('\\"', '"')
        match = _INTERPOLATION.match(value)
        return match.group(1) if match else value
    if isinstance(value, list):
        return [_unquote(item) for item in value]
    if isinstance(value, dict):
        return {
            _unquote(key): _unquote(item) for key, item in value.items() if key != "__is_block__"
        }
    return value


def _blocks(module: Path, kind: str) -> Iterator[tuple[str, list[str], dict[str, Any]]]:
    """Every ``kind`` block of the module as (file name, labels, body)."""
    for path in sorted(module.glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle)
        for block in parsed.get(kind, []):
            yield from _labelled(path.name, block, [])


def _terraform_blocks(module: Path) -> Iterator[dict[str, Any]]:
    """The unlabelled ``terraform`` blocks of the module."""
    for path in sorted(module.glob("*.tf")):
        with path.open() as handle:
            yield from hcl2.load(handle).get("terraform", [])


def _labelled(
    file_name: str, block: dict[str, Any], labels: list[str]
) -> Iterator[tuple[str, list[str], dict[str, Any]]]:
    for label, body in block.items():
        if label.startswith("__"):
            continue
        if isinstance(body, dict) and not body.get("__is_block__"):
            yield from _labelled(file_name, body, [*labels, _unquote(label)])
        else:
            yield file_name, [*labels, _unquote(label)], body


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _prose(text: str) -> str:
    """A table cell of prose: <prefix> and the like must not read as HTML tags."""
    return _cell(text).replace("<", "&lt;").replace(">", "&gt;")


def _hcl_value(value: Any) -> str:
    value = _unquote(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _requirements(module: Path) -> list[str]:
    lines = ["## Requirements", "", "| Name | Version |", "|------|---------|"]
    providers: list[str] = []
    for body in _terraform_blocks(module):
        version = _unquote(body.get("required_version", ""))
        lines.append(f"| terraform | {_cell(version)} |")
        for required in body.get("required_providers", []):
            for name, raw_spec in required.items():
                if name.startswith("__"):
                    continue
                spec = _unquote(raw_spec)
                lines.append(f"| {name} | {_cell(spec.get('version', ''))} |")
                providers.append(f"| {name} | {_cell(spec.get('source', ''))} |")
    return [*lines, "", "## Providers", "", "| Name | Source |", "|------|--------|", *providers]


def _modules(module: Path) -> list[str]:
    calls = sorted(
        (labels[0], _unquote(body.get("source", "")))
        for _, labels, body in _blocks(module, "module")
    )
    if not calls:
        return ["## Modules", "", "No modules."]
    rows = [f"| {name} | {source} |" for name, source in calls]
    return ["## Modules", "", "| Name | Source |", "|------|--------|", *rows]


def _resources(module: Path) -> list[str]:
    rows = []
    for kind, docs_kind, label in (
        ("resource", "resources", "resource"),
        ("data", "data-sources", "data source"),
    ):
        for _, labels, _ in _blocks(module, kind):
            resource_type, name = labels
            provider, _, short = resource_type.partition("_")
            url = REGISTRY.format(provider=provider, kind=docs_kind, name=short)
            prefix = "data." if kind == "data" else ""
            rows.append((f"{prefix}{resource_type}.{name}", url, label))
    rows.sort()
    table = [f"| [{address}]({url}) | {label} |" for address, url, label in rows]
    return ["## Resources", "", "| Name | Type |", "|------|------|", *table]


def _inputs(module: Path) -> list[str]:
    rows = []
    for _, labels, body in _blocks(module, "variable"):
        name = labels[0]
        description = _prose(_unquote(body.get("description", "")))
        type_ = _cell(_unquote(body.get("type", "any")))
        if "default" in body:
            default = "(sensitive)" if body.get("sensitive") else _hcl_value(body["default"])
            required = "no"
        else:
            default, required = "n/a", "yes"
        rows.append(f"| {name} | {description} | `{type_}` | `{_cell(default)}` | {required} |")
    rows.sort()
    header = [
        "| Name | Description | Type | Default | Required |",
        "|------|-------------|------|---------|:--------:|",
    ]
    return ["## Inputs", "", *header, *rows]


def _outputs(module: Path) -> list[str]:
    rows = sorted(
        f"| {labels[0]} | {_prose(_unquote(body.get('description', '')))} |"
        for _, labels, body in _blocks(module, "output")
    )
    return ["## Outputs", "", "| Name | Description |", "|------|-------------|", *rows]


def render(module: Path) -> str:
    """The generated section (markers included) for the module folder ``module``."""
    sections = [
        _requirements(module),
        _modules(module),
        _resources(module),
        _inputs(module),
        _outputs(module),
    ]
    body = "\n\n".join("\n".join(section) for section in sections)
    return f"{BEGIN}\n{body}\n{END}"


def update(readme: Path, check: bool) -> bool:
    """Rewrite the section in ``readme``; whether it changed (with ``check``: would change)."""
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: no {BEGIN} ... {END} section")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + render(readme.parent) + text[end:]
    if new == text:
        return False
    if not check:
        readme.write_text(new)
    return True


def main(argv: list[str] | None = None) -> int:
    """Rewrite the stale READMEs, or with ``--check`` only list them and return 1 if any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale READMEs")
    args = parser.parse_args(argv)
    readmes = [TERRAFORM / "README.md", *sorted(TERRAFORM.glob("modules/*/README.md"))]
    stale = [readme for readme in readmes if update(readme, check=args.check)]
    for readme in stale:
        verb = "is stale" if args.check else "updated"
        print(f"{readme.relative_to(ROOT)} {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
