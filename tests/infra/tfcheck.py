"""Static checks of ``terraform/`` and of how it wires the three ECS services (dev tooling).

No Terraform binary or provider can be downloaded where the tests run, so this reads the HCL
itself (python-hcl2's parse tree) and checks what ``terraform validate`` and a careful reviewer
would:

- :func:`check_terraform`: every ``var.``, ``local.``, ``module.``, ``data.`` and resource
  reference resolves in its own module (``module.x.y`` also needs output ``y`` in module x);
  every module argument is a variable of that module and every variable without a default is
  passed; every variable has a type and a description and is used.
- :func:`check_wiring`: for each service (``mlflow``, ``api``, ``mage``), every setting the code
  needs in production (marked in ``hourcast/settings.py``, plus the ``require NAME`` lines of the
  entrypoint script its Dockerfile runs) is supplied by the service's ``environment`` or
  ``secrets``; secrets never travel as plain environment; every secret is created in Terraform
  and readable by the execution role; every bucket the task names is in its task role's policy.

The wiring follows ``tf_conventions``: root ``module "<service>"`` calls of
``./modules/ecs_service`` with map literals ``environment`` and ``secrets``, one
``aws_iam_role.execution`` with ``data.aws_iam_policy_document.execution``, and per service
``aws_iam_role.task_<service>`` with ``data.aws_iam_policy_document.task_<service>``.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path, PurePosixPath

import hcl2
from lark import Token, Tree
from lark.exceptions import LarkError

__all__ = [
    "SERVICE_DOCKERFILES",
    "Dockerfile",
    "Problem",
    "check_repository",
    "check_terraform",
    "check_wiring",
    "entrypoint_requirements",
    "load_tree",
]

# The image each service runs (the Dockerfile is the source of its entrypoint).
SERVICE_DOCKERFILES = {
    "mlflow": "mlflow_server/Dockerfile",
    "api": "inference_api/Dockerfile",
    "mage": "orchestration/Dockerfile",
}
INDEX = "[]"  # a path segment that indexes: count/for_each instance, list element, splat
MODULE_META_ARGUMENTS = frozenset(
    {"source", "version", "count", "for_each", "providers", "depends_on"}
)
# Roots that are not declarations: iteration, the resource itself, paths and workspace.
BUILTIN_ROOTS = frozenset({"each", "count", "self", "path", "terraform"})
SKIPPED_TOP_LEVEL_BLOCKS = frozenset({"terraform", "moved", "removed"})
_CHAINS = frozenset(
    {"get_attr_expr_term", "index_expr_term", "attr_splat_expr_term", "full_splat_expr_term"}
)
_REQUIRE_LINE = re.compile(r"^\s*require\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:#.*)?$", re.MULTILINE)
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY")


@dataclass(frozen=True)
class Problem:
    """One finding, at a file and line."""

    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


# --------------------------------------------------------------------------------------------
# Parsed HCL
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One .tf file: its path and text (node positions index into the text)."""

    path: Path
    text: str

    def snippet(self, node: Tree) -> str:
        """The node's source text without white space."""
        return re.sub(r"\s+", "", self.text[node.meta.start_pos : node.meta.end_pos])


def _line(node: Tree | Token) -> int:
    if isinstance(node, Token):
        return node.line or 0
    return getattr(node.meta, "line", 0)


def _unwrap(node: Tree) -> Tree:
    """The expression inside ``expr_term`` wrappers (not parentheses)."""
    while (
        node.data == "expr_term" and len(node.children) == 1 and isinstance(node.children[0], Tree)
    ):
        node = node.children[0]
    return node


def _name_of(node: Tree | Token) -> str:
    """An identifier's or a plain string's text."""
    if isinstance(node, Token):
        return str(node)
    node = _unwrap(node)
    if node.data == "string":
        return "".join(
            str(token) for part in _children(node, "string_part") for token in part.children
        )
    tokens = list(node.scan_values(lambda value: isinstance(value, Token)))
    return str(tokens[0]) if tokens else ""


def _children(node: Tree, data: str) -> list[Tree]:
    """The direct children of ``node`` that are rules named ``data``."""
    return [child for child in node.children if isinstance(child, Tree) and child.data == data]


def string_literal(node: Tree) -> str | None:
    """The value of a string without interpolations, else None."""
    node = _unwrap(node)
    if node.data != "string":
        return None
    parts = [part.children[0] for part in node.children if isinstance(part, Tree)]
    if any(isinstance(part, Tree) for part in parts):
        return None
    return "".join(str(part) for part in parts)


def _expressions(node: Tree) -> list[Tree]:
    return [
        child
        for child in node.children
        if isinstance(child, Tree) and child.data != "new_line_or_comment"
    ]


def tuple_items(node: Tree) -> list[Tree] | None:
    """The elements of a tuple literal, else None."""
    node = _unwrap(node)
    return _expressions(node) if node.data == "tuple" else None


def object_items(node: Tree) -> list[tuple[str, Tree, Tree]] | None:
    """``(key, value, element)`` of an object literal, else None."""
    node = _unwrap(node)
    if node.data != "object":
        return None
    items = []
    for element in node.children:
        if isinstance(element, Tree) and element.data == "object_elem":
            key, value = _expressions(element)
            items.append((_name_of(key.children[0]), value, element))
    return items


@dataclass
class Block:
    """A block: ``kind "label" "label" { body }``."""

    kind: str
    labels: tuple[str, ...]
    body: Tree
    source: Source
    line: int

    @cached_property
    def attributes(self) -> dict[str, Tree]:
        """Attribute name to its expression."""
        found = {}
        for child in self.body.children:
            if isinstance(child, Tree) and child.data == "attribute":
                name, _, expression = child.children
                found[_name_of(name)] = expression
        return found

    @cached_property
    def blocks(self) -> list[Block]:
        """The nested blocks."""
        return [
            _block(child, self.source)
            for child in self.body.children
            if isinstance(child, Tree) and child.data == "block"
        ]

    def problem(self, message: str, node: Tree | None = None) -> Problem:
        return Problem(self.source.path, _line(node) if node is not None else self.line, message)


def _block(node: Tree, source: Source) -> Block:
    heads = [child for child in node.children if isinstance(child, Tree) and child.data != "body"]
    heads = [head for head in heads if head.data != "new_line_or_comment"]
    body = _children(node, "body")[0]
    return Block(
        kind=_name_of(heads[0]),
        labels=tuple(_name_of(head) for head in heads[1:]),
        body=body,
        source=source,
        line=_line(node),
    )


@dataclass
class Module:
    """The .tf files of one folder."""

    path: Path
    blocks: list[Block] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    variables: dict[str, Block] = field(default_factory=dict)
    locals: dict[str, tuple[Tree, Block]] = field(default_factory=dict)
    outputs: dict[str, Block] = field(default_factory=dict)
    calls: dict[str, Block] = field(default_factory=dict)
    resources: dict[tuple[str, str], Block] = field(default_factory=dict)
    data: dict[tuple[str, str], Block] = field(default_factory=dict)
    ephemeral: dict[tuple[str, str], Block] = field(default_factory=dict)

    def declare(self, table: dict, key: object, value: object, block: Block, what: str) -> None:
        if key in table:
            self.problems.append(block.problem(f"{what} is declared twice"))
        table[key] = value

    def local_source(self, call: Block) -> Path | None:
        """The folder of a module call with a local source (``./`` or ``../``), else None."""
        source = call.attributes.get("source")
        value = string_literal(source) if source is not None else None
        if value is None or not value.startswith(("./", "../")):
            return None
        return (self.path / value).resolve()


@lru_cache(maxsize=512)
def _parse(text: str) -> Tree:
    # Cached by text: the tests check many copies of one tree that differ in a file or two.
    return hcl2.parses_to_tree(text)


def load_module(path: Path) -> Module:
    """Parse every .tf file in ``path`` (not its sub-folders)."""
    module = Module(path)
    for file in sorted(path.glob("*.tf")):
        source = Source(file, file.read_text(encoding="utf-8"))
        try:
            tree = _parse(source.text)
        except LarkError as exc:
            line = getattr(exc, "line", 0)
            module.problems.append(Problem(file, line, f"HCL does not parse: {exc}".split("\n")[0]))
            continue
        body = tree.children[0]
        for child in body.children:
            if isinstance(child, Tree) and child.data == "block":
                module.blocks.append(_block(child, source))
    for block in module.blocks:
        _declare(module, block)
    return module


def _declare(module: Module, block: Block) -> None:
    kind, labels = block.kind, block.labels
    if kind == "variable" and len(labels) == 1:
        module.declare(module.variables, labels[0], block, block, f"variable {labels[0]}")
    elif kind == "output" and len(labels) == 1:
        module.declare(module.outputs, labels[0], block, block, f"output {labels[0]}")
    elif kind == "module" and len(labels) == 1:
        module.declare(module.calls, labels[0], block, block, f"module {labels[0]}")
    elif kind == "locals":
        for name, expression in block.attributes.items():
            module.declare(module.locals, name, (expression, block), block, f"local.{name}")
    elif kind in ("resource", "data", "ephemeral") and len(labels) == 2:
        table = {"resource": module.resources, "data": module.data, "ephemeral": module.ephemeral}
        module.declare(table[kind], labels, block, block, f"{kind} {'.'.join(labels)}")


def load_tree(root: Path) -> dict[Path, Module]:
    """The root module and every local module it calls, transitively, by resolved folder."""
    modules: dict[Path, Module] = {}
    pending = [root.resolve()]
    while pending:
        path = pending.pop()
        if path in modules or not path.is_dir():
            continue
        modules[path] = module = load_module(path)
        pending.extend(
            child for call in module.calls.values() if (child := module.local_source(call))
        )
    return modules


# --------------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """A traversal such as ``module.db.secret_arn`` or ``aws_iam_role.task[0].arn``."""

    root: str
    segments: tuple[str, ...]
    line: int
    node: Tree | None = None

    def __str__(self) -> str:
        return self.root + "".join(INDEX if s == INDEX else f".{s}" for s in self.segments)

    def names(self) -> tuple[str, ...]:
        """The attribute segments, without indexes."""
        return tuple(segment for segment in self.segments if segment != INDEX)


def _flatten(node: Tree) -> tuple[Tree, list[str], list[Tree]]:
    """Split a traversal chain into its base, its segments and its index expressions."""
    segments: list[str] = []
    indexes: list[Tree] = []
    while node.data in _CHAINS:
        base, operation = node.children[0], node.children[1]
        if node.data == "get_attr_expr_term":
            step = [_name_of(operation.children[1])]
        elif node.data == "index_expr_term":
            step = [INDEX]
            if operation.data == "braces_index":
                indexes.extend(_expressions(operation))
        else:  # splats: [*].a.b or .*.a
            step = [INDEX]
            for part in operation.children:
                if isinstance(part, Tree) and part.data == "get_attr":
                    step.append(_name_of(part.children[1]))
                elif isinstance(part, Tree):
                    step.append(INDEX)
                    indexes.extend(_expressions(part))
        segments[:0] = step
        node = _unwrap(base)
    return node, segments, indexes


def references(node: Tree, bound: frozenset[str] = frozenset()) -> Iterator[Reference]:
    """Every traversal rooted at a name in ``node``, except names bound by ``for``."""
    if node.data in ("for_tuple_expr", "for_object_expr"):
        intro = _children(node, "for_intro")[0]
        names = [_name_of(child) for child in _children(intro, "identifier")]
        collection = [child for child in _expressions(intro) if child.data != "identifier"]
        for child in collection:
            yield from references(child, bound)
        inner = bound | frozenset(names)
        for child in _expressions(node):
            if child is not intro:
                yield from references(child, inner)
        return
    if node.data in _CHAINS:
        base, segments, indexes = _flatten(node)
        if base.data == "identifier":
            root = _name_of(base)
            if root not in bound:
                yield Reference(root, tuple(segments), _line(node), node)
        else:
            yield from references(base, bound)
        for index in indexes:
            yield from references(index, bound)
        return
    if node.data == "function_call":
        for child in node.children:
            if isinstance(child, Tree) and child.data == "arguments":
                yield from references(child, bound)
        return
    if node.data == "object_elem_key":
        key = _unwrap(node.children[0]) if isinstance(node.children[0], Tree) else None
        if key is not None and key.data != "identifier":  # a bare key is a name, not a reference
            yield from references(key, bound)
        return
    if node.data == "string":
        loops = [
            _name_of(child)
            for directive in node.find_data("template_for_start")
            for child in _children(directive, "identifier")
        ]
        bound = bound | frozenset(loops)
    if node.data in ("heredoc_template", "heredoc_template_trim"):
        token = node.children[0]
        yield from _heredoc_references(token, bound) if isinstance(token, Token) else ()
        return
    for child in node.children:
        if isinstance(child, Tree):
            yield from references(child, bound)


def _heredoc_references(token: Token, bound: frozenset[str]) -> Iterator[Reference]:
    # python-hcl2 keeps a heredoc as one token: parse each ${...} in it on its own.
    text = str(token)
    start = text.find("${")
    while start != -1:
        depth, end = 0, start + 2
        while end < len(text) and not (text[end] == "}" and depth == 0):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        line = (token.line or 0) + text.count("\n", 0, start)
        if not text.startswith("$${", start - 1 if start else 0):
            try:
                expression = hcl2.parses_to_tree(f"x = {text[start + 2 : end]}")
            except LarkError:
                expression = None
            if expression is not None:
                for found in references(expression, bound):
                    yield Reference(found.root, found.segments, line)
        start = text.find("${", end)


def block_references(block: Block, bound: frozenset[str] = frozenset()) -> Iterator[Reference]:
    """The references in a block, minus provider addresses and ``ignore_changes`` lists."""
    if block.kind == "dynamic" and block.labels:
        iterator = block.attributes.get("iterator")
        bound = bound | {_name_of(iterator) if iterator is not None else block.labels[0]}
    for name, expression in block.attributes.items():
        if (block.kind in ("resource", "data", "ephemeral") and name == "provider") or (
            block.kind == "module" and name == "providers"
        ):
            continue
        if block.kind == "lifecycle" and name == "ignore_changes":
            continue
        yield from references(expression, bound)
    for nested in block.blocks:
        yield from block_references(nested, bound)


# --------------------------------------------------------------------------------------------
# check_terraform
# --------------------------------------------------------------------------------------------


def _resolve(module: Module, reference: Reference, modules: dict[Path, Module]) -> str | None:
    """Why ``reference`` does not resolve in ``module``, or None if it does."""
    names = reference.names()
    root = reference.root
    if root in BUILTIN_ROOTS:
        return None
    if not names:
        return f"{reference} is not a complete reference"
    if root == "var":
        return None if names[0] in module.variables else f"var.{names[0]} is not declared"
    if root == "local":
        return None if names[0] in module.locals else f"local.{names[0]} is not defined"
    if root == "module":
        call = module.calls.get(names[0])
        if call is None:
            return f"module.{names[0]} is not called in this module"
        child = modules.get(module.local_source(call) or Path("/nonexistent"))
        if child is not None and len(names) > 1 and names[1] not in child.outputs:
            return f"module.{names[0]}.{names[1]}: module {names[0]} has no output {names[1]}"
        return None
    if root in ("data", "ephemeral"):
        table = module.data if root == "data" else module.ephemeral
        if len(names) < 2 or tuple(names[:2]) not in table:
            return f"{root}.{'.'.join(names[:2])} is not declared"
        return None
    if (root, names[0]) not in module.resources:
        return f"{root}.{names[0]} is not declared (no resource, variable or iterator of that name)"
    return None


def _check_variable(block: Block) -> Iterator[Problem]:
    name = block.labels[0]
    if "type" not in block.attributes:
        yield block.problem(f"variable {name} has no type")
    description = block.attributes.get("description")
    if description is None or not (string_literal(description) or "").strip():
        yield block.problem(f"variable {name} has no description")


def _check_call(module: Module, call: Block, modules: dict[Path, Module]) -> Iterator[Problem]:
    name = call.labels[0]
    path = module.local_source(call)
    if path is None:
        return  # a registry or remote module: its variables are not here to check
    child = modules.get(path)
    if child is None or not child.blocks:
        yield call.problem(f"module {name}: source {path} has no .tf files")
        return
    for argument, expression in call.attributes.items():
        if argument not in MODULE_META_ARGUMENTS and argument not in child.variables:
            yield call.problem(
                f"module {name}: argument {argument} is not a variable of {path.name}",
                expression,
            )
    for variable, block in child.variables.items():
        if "default" not in block.attributes and variable not in call.attributes:
            yield call.problem(f"module {name}: required variable {variable} is not passed")


def check_module(module: Module, modules: dict[Path, Module]) -> list[Problem]:
    """References, module calls and variables of one module."""
    problems = list(module.problems)
    used_variables: set[str] = set()
    for block in module.blocks:
        if block.kind in SKIPPED_TOP_LEVEL_BLOCKS:
            continue
        for reference in block_references(block):
            # A variable's own validation does not count as a use.
            if reference.root == "var" and reference.names() and block.kind != "variable":
                used_variables.add(reference.names()[0])
            reason = _resolve(module, reference, modules)
            if reason:
                problems.append(Problem(block.source.path, reference.line, reason))
    for name, block in module.variables.items():
        problems.extend(_check_variable(block))
        if name not in used_variables:
            problems.append(block.problem(f"variable {name} is declared but never used"))
    for call in module.calls.values():
        problems.extend(_check_call(module, call, modules))
    return problems


def check_terraform(root: Path) -> list[Problem]:
    """Parse every .tf file of the root module and the local modules it calls, and check them."""
    modules = load_tree(root)
    problems = []
    for module in modules.values():
        problems.extend(check_module(module, modules))
    called = set(modules)
    for folder in sorted({file.parent.resolve() for file in root.rglob("*.tf")} - called):
        if ".terraform" not in folder.parts:
            problems.append(Problem(folder, 0, "module folder is not called from the root"))
            module = load_module(folder)
            problems.extend(check_module(module, {**modules, folder: module}))
    return problems


# --------------------------------------------------------------------------------------------
# Dockerfiles and entrypoints
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction with the WORKDIR it runs in."""

    keyword: str
    arguments: str
    line: int
    workdir: PurePosixPath

    def words(self) -> list[str]:
        """Exec-form JSON array or shell words."""
        text = self.arguments.strip()
        if text.startswith("["):
            try:
                return [str(word) for word in json.loads(text)]
            except ValueError:
                pass
        return shlex.split(text, comments=False)


@dataclass(frozen=True)
class Copy:
    """A COPY/ADD from the build context: its sources and the container path of each."""

    instruction: Instruction
    sources: tuple[str, ...]
    targets: tuple[PurePosixPath, ...]


@dataclass(frozen=True)
class Dockerfile:
    """The instructions of a Dockerfile (continuation lines joined, comments dropped)."""

    path: Path
    instructions: tuple[Instruction, ...]

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        instructions = []
        workdir = PurePosixPath("/")
        pending, start = "", 0
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
                continue
            if pending and raw.lstrip().startswith("#"):
                continue
            if not pending:
                start = number
            pending += raw.rstrip()
            if pending.endswith("\\"):
                pending = pending[:-1] + " "
                continue
            keyword, _, arguments = pending.strip().partition(" ")
            keyword = keyword.upper()
            if keyword == "WORKDIR":
                workdir = workdir / arguments.strip()
            instructions.append(Instruction(keyword, arguments.strip(), start, workdir))
            pending = ""
        return cls(path, tuple(instructions))

    @property
    def copies(self) -> list[Copy]:
        """COPY/ADD instructions from the build context (not ``--from`` another stage)."""
        found = []
        for instruction in self.instructions:
            if instruction.keyword not in ("COPY", "ADD"):
                continue
            words = instruction.words()
            if any(word.startswith("--from") for word in words):
                continue
            paths = [word for word in words if not word.startswith("--")]
            sources, destination = paths[:-1], paths[-1]
            into_folder = destination.endswith("/") or len(sources) > 1
            base = instruction.workdir / destination
            targets = tuple(
                base / PurePosixPath(source.rstrip("/")).name if into_folder else base
                for source in sources
            )
            found.append(Copy(instruction, tuple(sources), targets))
        return found

    def command(self) -> list[str]:
        """The words of the last ENTRYPOINT followed by those of the last CMD."""
        words: dict[str, list[str]] = {"ENTRYPOINT": [], "CMD": []}
        for instruction in self.instructions:
            if instruction.keyword in words:
                words[instruction.keyword] = instruction.words()
        return words["ENTRYPOINT"] + words["CMD"]

    def context_file(self, container_path: str, context: Path) -> Path | None:
        """The build-context file that ends up at ``container_path``, if a COPY put it there."""
        workdir = self.instructions[-1].workdir if self.instructions else PurePosixPath("/")
        wanted = workdir / container_path
        for copy in reversed(self.copies):
            for source, target in zip(copy.sources, copy.targets, strict=True):
                if wanted == target:
                    candidate = context / source
                elif target in wanted.parents:
                    candidate = context / source / wanted.relative_to(target)
                else:
                    continue
                if candidate.is_file():
                    return candidate
        return None


def entrypoint_scripts(dockerfile: Dockerfile, context: Path) -> list[Path]:
    """The shell scripts of the build context that the image's ENTRYPOINT/CMD runs."""
    scripts = []
    for word in dockerfile.command():
        path = dockerfile.context_file(word, context) if "/" in word or "." in word else None
        if path is not None and path.read_text(encoding="utf-8").startswith("#!"):
            scripts.append(path)
    return scripts


def entrypoint_requirements(dockerfile: Path, context: Path) -> dict[str, Path]:
    """Variable name to the script that declares it with a ``require NAME`` line."""
    needed: dict[str, Path] = {}
    for script in entrypoint_scripts(Dockerfile.read(dockerfile), context):
        for name in _REQUIRE_LINE.findall(script.read_text(encoding="utf-8")):
            needed.setdefault(name, script)
    return needed


# --------------------------------------------------------------------------------------------
# check_wiring
# --------------------------------------------------------------------------------------------


def _policy_entry(source: Source, node: Tree) -> str:
    """A policy resource as text: references as ``${...}``, string literals as written."""
    node = _unwrap(node)
    if node.data in _CHAINS:
        return "${" + source.snippet(node) + "}"
    if node.data == "string":
        text = []
        for part in node.children:
            if not isinstance(part, Tree):
                continue
            piece = part.children[0]
            if isinstance(piece, Tree) and piece.data == "interpolation":
                text.append("${" + source.snippet(_expressions(piece)[0]) + "}")
            else:
                text.append(str(piece))
        return "".join(text)
    return source.snippet(node)


@dataclass(frozen=True)
class Statement:
    """An ``aws_iam_policy_document`` statement: its effect, actions and resources."""

    effect: str
    actions: frozenset[str]
    resources: frozenset[str]


def policy_statements(module: Module, document: str) -> list[Statement] | None:
    """The statements of ``data.aws_iam_policy_document.<document>``, or None if undeclared."""
    block = module.data.get(("aws_iam_policy_document", document))
    if block is None:
        return None
    statements = []
    for statement in (nested for nested in block.blocks if nested.kind == "statement"):
        listed: dict[str, set[str]] = {"actions": set(), "resources": set()}
        for name, entries in listed.items():
            expression = statement.attributes.get(name)
            items = tuple_items(expression) if expression is not None else None
            source = statement.source
            if items is None and expression is not None:  # one level of local indirection
                local = _local_named(module, expression)
                if local is not None:
                    items, source = tuple_items(local[0]), local[1].source
            entries.update(_policy_entry(source, item) for item in items or [])
        effect = statement.attributes.get("effect")
        statements.append(
            Statement(
                effect=string_literal(effect) or "" if effect is not None else "Allow",
                actions=frozenset(action.strip('"') for action in listed["actions"]),
                resources=frozenset(listed["resources"]),
            )
        )
    return statements


def _local_named(module: Module, expression: Tree) -> tuple[Tree, Block] | None:
    """The value of the local that ``expression`` is (``local.x`` alone), else None."""
    found = list(references(expression))
    if len(found) == 1 and found[0].root == "local" and found[0].names():
        return module.locals.get(found[0].names()[0])
    return None


def _grants(statements: Sequence[Statement], resource: str, action: str) -> bool:
    service = action.split(":", maxsplit=1)[0]
    return any(
        statement.effect == "Allow"
        and resource in statement.resources
        and ({action, f"{service}:*", "*"} & statement.actions)
        for statement in statements
    )


def _is_attached(module: Module, role: str, document: str) -> bool:
    """Whether the policy document is attached to ``aws_iam_role.<role>``."""
    role_ref, document_ref = f"aws_iam_role.{role}", f"data.aws_iam_policy_document.{document}"

    def mentions(block: Block, attribute: str, prefix: str) -> bool:
        expression = block.attributes.get(attribute)
        return expression is not None and any(
            str(ref).startswith(prefix + ".") for ref in references(expression)
        )

    policies = {
        name
        for (kind, name), block in module.resources.items()
        if kind == "aws_iam_policy" and mentions(block, "policy", document_ref)
    }
    for (kind, _), block in module.resources.items():
        if not mentions(block, "role", role_ref):
            continue
        if kind == "aws_iam_role_policy" and mentions(block, "policy", document_ref):
            return True
        if kind == "aws_iam_role_policy_attachment" and any(
            mentions(block, "policy_arn", f"aws_iam_policy.{name}") for name in policies
        ):
            return True
    role_block = module.resources.get(("aws_iam_role", role))
    return role_block is not None and any(
        mentions(inline, "policy", document_ref)
        for inline in role_block.blocks
        if inline.kind == "inline_policy"
    )


@dataclass(frozen=True)
class SecretOrigin:
    """Where a secret ARN comes from: the secret resource and the KMS key it is encrypted with."""

    resource: Block
    kms_key: str | None  # ${...} text of the key in the module that declares the secret


def _secret_origin(
    module: Module, reference: Reference, modules: dict[Path, Module], depth: int = 0
) -> SecretOrigin | str:
    """The Terraform resource that creates the secret ``reference`` names, or why none does."""
    names = reference.names()
    if depth > 5 or not names:
        return f"cannot follow {reference}"
    if reference.root == "aws_secretsmanager_secret":
        block = module.resources.get((reference.root, names[0]))
        if block is None:
            return f"{reference}: no such aws_secretsmanager_secret"
        key = block.attributes.get("kms_key_id")
        return SecretOrigin(block, _policy_entry(block.source, key) if key is not None else None)
    if reference.root in ("aws_db_instance", "aws_rds_cluster") and "master_user_secret" in names:
        block = module.resources.get((reference.root, names[0]))
        managed = block.attributes.get("manage_master_user_password") if block else None
        if block is None or managed is None or _name_of(managed) != "true":
            return f"{reference}: {reference.root}.{names[0]} does not manage its master password"
        key = block.attributes.get("master_user_secret_kms_key_id")
        return SecretOrigin(block, _policy_entry(block.source, key) if key is not None else None)
    if reference.root == "module" and len(names) > 1:
        call = module.calls.get(names[0])
        child = modules.get(module.local_source(call) or Path("/nonexistent")) if call else None
        output = child.outputs.get(names[1]) if child else None
        if child is None or output is None or "value" not in output.attributes:
            return f"{reference}: no such module output"
        return _single_origin(child, output.attributes["value"], modules, depth, str(reference))
    if reference.root == "local" and names[0] in module.locals:
        value, _ = module.locals[names[0]]
        return _single_origin(module, value, modules, depth, str(reference))
    return (
        f"{reference} is not a secret created in this Terraform "
        "(aws_secretsmanager_secret or an RDS-managed master secret)"
    )


def _single_origin(
    module: Module, value: Tree, modules: dict[Path, Module], depth: int, name: str
) -> SecretOrigin | str:
    found = {str(ref): ref for ref in references(value) if ref.root not in BUILTIN_ROOTS}
    if len(found) != 1:
        return f"{name} is not a single secret reference"
    return _secret_origin(module, next(iter(found.values())), modules, depth + 1)


def _secret_value(source: Source, node: Tree) -> tuple[str, Reference] | None:
    """``(reference text, reference)`` of ``ref`` or ``"${ref}:json-key::"``, else None."""
    node = _unwrap(node)
    if node.data == "string":
        parts = [part.children[0] for part in node.children if isinstance(part, Tree)]
        if not parts or not isinstance(parts[0], Tree) or parts[0].data != "interpolation":
            return None
        suffix = "".join(str(part) for part in parts[1:] if not isinstance(part, Tree))
        if any(isinstance(part, Tree) for part in parts[1:]) or not re.fullmatch(
            r"(:[A-Za-z0-9_.-]+:[A-Za-z0-9_-]*:[A-Za-z0-9-]*)?", suffix
        ):
            return None
        node = _unwrap(_expressions(parts[0])[0])
    if node.data not in _CHAINS:
        return None
    found = list(references(node))
    return (source.snippet(node), found[0]) if len(found) == 1 else None


@dataclass
class Service:
    """A root ``module "<service>"`` call: its container environment and secrets."""

    name: str
    call: Block
    environment: dict[str, Tree]
    secrets: dict[str, Tree]


def _service(module: Module, name: str) -> Service | list[Problem]:
    call = module.calls.get(name)
    if call is None:
        return [Problem(module.path, 0, f'no module "{name}" (the {name} ECS service)')]
    maps: dict[str, dict[str, Tree]] = {}
    problems = []
    for argument in ("environment", "secrets"):
        expression = call.attributes.get(argument)
        items = object_items(expression) if expression is not None else None
        if items is None:
            problems.append(call.problem(f"module {name}: {argument} must be a map literal"))
            items = []
        maps[argument] = {key: value for key, value, _ in items}
    if problems:
        return problems
    return Service(name, call, maps["environment"], maps["secrets"])


def _bucket_prefixes(module: Module, service: Service, modules: dict[Path, Module]) -> set[str]:
    """``module.<bucket>`` / ``aws_s3_bucket.<name>`` the service's environment names."""
    buckets = set()
    for value in service.environment.values():
        for reference in references(value):
            names = reference.names()
            if reference.root == "aws_s3_bucket" and names:
                buckets.add(f"aws_s3_bucket.{names[0]}")
            if reference.root == "module" and names and (call := module.calls.get(names[0])):
                child = modules.get(module.local_source(call) or Path("/nonexistent"))
                if child and any(kind == "aws_s3_bucket" for kind, _ in child.resources):
                    buckets.add(f"module.{names[0]}")
    return buckets


def _check_service_roles(module: Module, service: Service) -> Iterator[Problem]:
    name, call = service.name, service.call
    expected = {
        "execution_role_arn": "aws_iam_role.execution.arn",
        "task_role_arn": f"aws_iam_role.task_{name}.arn",
    }
    for argument, wanted in expected.items():
        expression = call.attributes.get(argument)
        given = call.source.snippet(expression) if expression is not None else None
        if given != wanted:
            yield call.problem(f"module {name}: {argument} must be {wanted}, not {given}")
    for role, document in (("execution", "execution"), (f"task_{name}", f"task_{name}")):
        if ("aws_iam_role", role) not in module.resources:
            yield call.problem(f"module {name}: aws_iam_role.{role} is not declared")
        elif policy_statements(module, document) is None:
            yield call.problem(
                f"module {name}: data.aws_iam_policy_document.{document} is not declared"
            )
        elif not _is_attached(module, role, document):
            yield call.problem(
                f"module {name}: data.aws_iam_policy_document.{document} is not attached "
                f"to aws_iam_role.{role}"
            )


def _check_settings(
    service: Service, required: dict[str, str], secret_settings: Iterable[str]
) -> Iterator[Problem]:
    name, call = service.name, service.call
    supplied = service.environment.keys() | service.secrets.keys()
    for variable, origin in required.items():
        if variable not in supplied:
            yield call.problem(
                f"module {name}: {variable} is required by {origin} but the task definition "
                "supplies it neither in environment nor in secrets"
            )
    secret_like = set(secret_settings)
    for variable, value in service.environment.items():
        if variable in secret_like or _SECRET_NAME.search(variable):
            yield call.problem(
                f"module {name}: {variable} is a secret; pass it in secrets (valueFrom), "
                "not in the plain environment",
                value,
            )
    env = service.environment.get("HOURCAST_ENV")
    if "HOURCAST_ENV" in required and env is not None and string_literal(env) != "production":
        yield call.problem(f'module {name}: HOURCAST_ENV must be "production"', env)


def _check_secrets(
    module: Module, service: Service, modules: dict[Path, Module], execution: list[Statement]
) -> Iterator[Problem]:
    name, call = service.name, service.call
    for variable, value in service.secrets.items():
        parsed = _secret_value(call.source, value)
        if parsed is None:
            yield call.problem(
                f"module {name}: secret {variable} must be a secret ARN reference, optionally "
                'as "${<arn>}:<json-key>::"',
                value,
            )
            continue
        text, reference = parsed
        origin = _secret_origin(module, reference, modules)
        if isinstance(origin, str):
            yield call.problem(f"module {name}: secret {variable}: {origin}", value)
            continue
        if not _grants(execution, "${" + text + "}", "secretsmanager:GetSecretValue"):
            yield call.problem(
                f"module {name}: secret {variable}: the execution role cannot read {text} "
                "(no secretsmanager:GetSecretValue on it in "
                "data.aws_iam_policy_document.execution)",
                value,
            )
        # A key passed into a module is named differently there: only root secrets are checked.
        declared_here = origin.resource.source.path.parent == module.path
        if (
            origin.kms_key
            and declared_here
            and not _grants(execution, origin.kms_key, "kms:Decrypt")
        ):
            yield call.problem(
                f"module {name}: secret {variable} is encrypted with {origin.kms_key}, "
                "which the execution role may not kms:Decrypt",
                value,
            )


def _check_buckets(
    module: Module, service: Service, modules: dict[Path, Module]
) -> Iterator[Problem]:
    name, call = service.name, service.call
    statements = policy_statements(module, f"task_{name}") or []
    for bucket in sorted(_bucket_prefixes(module, service, modules)):
        arn = "${" + bucket + ".arn}"
        if not _grants(statements, arn, "s3:ListBucket"):
            yield call.problem(
                f"module {name}: the task names {bucket} but data.aws_iam_policy_document."
                f"task_{name} grants no s3:ListBucket on {arn}"
            )
        if not _grants(statements, arn + "/*", "s3:GetObject"):
            yield call.problem(
                f"module {name}: the task names {bucket} but data.aws_iam_policy_document."
                f"task_{name} grants no s3:GetObject on {arn}/*"
            )


def check_wiring(
    terraform: Path,
    context: Path,
    *,
    settings_requirements: Callable[[str], Sequence[str]],
    secret_settings: Iterable[str] = (),
    dockerfiles: dict[str, str] = SERVICE_DOCKERFILES,
) -> list[Problem]:
    """Check that each service gets what its code needs (see the module docstring).

    Args:
        terraform (Path): The root module.
        context (Path): The Docker build context (the repository root).
        settings_requirements: Service name to the settings it needs in production.
        secret_settings (Iterable[str]): Variables that hold secrets.
        dockerfiles (dict[str, str]): Service name to its Dockerfile, relative to ``context``.

    Returns:
        list[Problem]: Empty when every service is wired.
    """
    modules = load_tree(terraform)
    root = modules[terraform.resolve()]
    problems: list[Problem] = []
    execution = policy_statements(root, "execution") or []
    secret_settings = tuple(secret_settings)
    for name, dockerfile in dockerfiles.items():
        service = _service(root, name)
        if isinstance(service, list):
            problems.extend(service)
            continue
        required = dict.fromkeys(settings_requirements(name), "hourcast.settings")
        for variable, script in entrypoint_requirements(context / dockerfile, context).items():
            required.setdefault(variable, str(script.relative_to(context)))
        problems.extend(_check_service_roles(root, service))
        problems.extend(_check_settings(service, required, secret_settings))
        problems.extend(_check_secrets(root, service, modules, execution))
        problems.extend(_check_buckets(root, service, modules))
    return problems


def check_repository(repo: Path, terraform: Path | None = None) -> list[Problem]:
    """Both checks on a repository, with the requirements hourcast.settings declares."""
    from pydantic import SecretStr

    from hourcast.settings import ENV_PREFIX, SERVICES, Settings, required_environment_variables

    def settings_requirements(service: str) -> list[str]:
        return required_environment_variables(service) if service in SERVICES else []

    secret_settings = [
        f"{ENV_PREFIX}{name.upper()}"
        for name, info in Settings.model_fields.items()
        if SecretStr in (info.annotation, *getattr(info.annotation, "__args__", ()))
    ]
    terraform = terraform or repo / "terraform"
    return check_terraform(terraform) + check_wiring(
        terraform,
        repo,
        settings_requirements=settings_requirements,
        secret_settings=secret_settings,
    )


if __name__ == "__main__":
    import sys

    found = check_repository(Path(__file__).resolve().parents[2])
    for problem in found:
        print(problem)
    sys.exit(1 if found else 0)
