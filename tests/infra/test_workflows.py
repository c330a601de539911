"""The GitHub workflows against the rules they must keep, and the README against the workflows.

Each check reads a folder of workflow files (and the README, and terraform/), so each test can
also run it on a copy broken one way and see that it fails: an action pinned by tag, two
Terraform versions, a secret or variable missing from the README's table (or a row for one no
workflow reads), a required Terraform variable not passed, an apply outside an environment, a
``pull_request_target`` trigger. The terraform-docs tables are checked the same way.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
README = ROOT / "README.md"
TERRAFORM = ROOT / "terraform"
README_SECTION = "## Deploying to AWS"

_SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
_VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\b")
_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_CONTEXT_NAME = re.compile(r"\b(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)")
_TF_VAR_ENV = re.compile(r"^(?:GH_)?TF_VAR_(.+)$")
# Provided by GitHub itself, not set by the maintainers.
_BUILTIN_SECRETS = {"GITHUB_TOKEN"}


def load_workflows(folder: Path) -> dict[str, dict[str, Any]]:
    """Each workflow file by its stem (``ci``, ``terraform``, ``deploy``)."""
    workflows = {}
    for path in sorted(folder.glob("*.yml")):
        data = yaml.safe_load(path.read_text())
        # YAML 1.1 reads the key `on` as the boolean true.
        if True in data:
            data["on"] = data.pop(True)
        workflows[path.stem] = data
    return workflows


def _jobs(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from (workflow.get("jobs") or {}).items()


def _strings(node: Any) -> Iterator[str]:
    """Every string value (and key) in a parsed workflow."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str):
                yield key
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps") or [])


def _uses(job: dict[str, Any]) -> list[str]:
    steps = [step["uses"] for step in job.get("steps") or [] if "uses" in step]
    return [job["uses"], *steps] if "uses" in job else steps


# --- the checks: each returns a list of problems, empty when all is well ---


def unpinned_actions(folder: Path) -> list[str]:
    """Every remote ``uses:`` is pinned by a full commit SHA with its tag in a comment."""
    problems = []
    for name, workflow in load_workflows(folder).items():
        for job_name, job in _jobs(workflow):
            for uses in _uses(job):
                if uses.startswith("./"):
                    continue
                if not _SHA_PIN.match(uses):
                    problems.append(f"{name}.{job_name}: {uses} is not pinned by a commit SHA")
        for number, line in enumerate((folder / f"{name}.yml").read_text().splitlines(), 1):
            match = re.search(r"\buses:\s*([^\s#]+)", line)
            remote = match and not match.group(1).startswith("./")
            if remote and not _VERSION_COMMENT.search(line[match.end() :]):
                problems.append(f"{name}.yml:{number}: no '# vX.Y.Z' comment after the SHA")
    return problems


def terraform_versions(folder: Path) -> dict[str, set[str]]:
    """The Terraform versions each workflow installs (setup-terraform's terraform_version)."""
    found: dict[str, set[str]] = {}
    for name, workflow in load_workflows(folder).items():
        for _, job in _jobs(workflow):
            env = {**(workflow.get("env") or {}), **(job.get("env") or {})}
            for step in job.get("steps") or []:
                if not str(step.get("uses", "")).startswith("hashicorp/setup-terraform@"):
                    continue
                version = str((step.get("with") or {}).get("terraform_version", "latest"))
                reference = re.fullmatch(r"\$\{\{\s*env\.(\w+)\s*\}\}", version)
                if reference:
                    version = str(env.get(reference.group(1), "unset"))
                found.setdefault(name, set()).add(version)
    return found


def terraform_version_problems(folder: Path) -> list[str]:
    versions = terraform_versions(folder)
    problems = [
        f"{name}.yml does not install Terraform"
        for name in ("ci", "terraform")
        if name not in versions
    ]
    every = set().union(*versions.values()) if versions else set()
    if len(every) > 1:
        problems.append(f"different Terraform versions: {versions}")
    problems += [
        f"an exact Terraform version, not {v!r}"
        for v in every
        if not re.fullmatch(r"\d+\.\d+\.\d+", v)
    ]
    return problems


def read_names(folder: Path) -> dict[tuple[str, str], set[str]]:
    """(kind, name) of each secret and variable the workflows read -> the workflows reading it."""
    names: dict[tuple[str, str], set[str]] = {}
    for stem, workflow in load_workflows(folder).items():
        for text in _strings(workflow):
            for expression in _EXPRESSION.findall(text):
                for context, name in _CONTEXT_NAME.findall(expression):
                    if context == "secrets" and name in _BUILTIN_SECRETS:
                        continue
                    kind = "secret" if context == "secrets" else "variable"
                    names.setdefault((kind, name), set()).add(stem)
    return names


def readme_table(readme: Path) -> dict[tuple[str, str], set[str]]:
    """(kind, name) -> workflows, from the table in the README's deployment section."""
    text = readme.read_text()
    assert README_SECTION in text, f"{readme} has no {README_SECTION!r} section"
    section = text.split(README_SECTION, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0]) if len(cells) >= 4 else None
        if match:
            readers = {reader.strip() for reader in cells[-1].split(",")}
            rows[(cells[1], match.group(1))] = readers
    return rows


def undocumented_names(folder: Path, readme: Path) -> list[str]:
    """The README's table lists exactly what the workflows read, as what kind, read by which."""
    read = read_names(folder)
    table = readme_table(readme)
    problems = [
        f"{kind} {name} (read by {', '.join(sorted(stems))}) is not in the README's table"
        for (kind, name), stems in sorted(read.items())
        if (kind, name) not in table
    ]
    problems += [
        f"the README lists {kind} {name}, which no workflow reads"
        for (kind, name) in sorted(table)
        if (kind, name) not in read
    ]
    problems += [
        f"{kind} {name}: the README says read by {sorted(table[(kind, name)])}, "
        f"the workflows that read it are {sorted(stems)}"
        for (kind, name), stems in sorted(read.items())
        if (kind, name) in table and table[(kind, name)] != stems
    ]
    return problems


def root_variables(terraform: Path) -> dict[str, bool]:
    """Each variable of the root module and whether it has a default."""
    variables = {}
    for path in sorted(terraform.glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle)
        for block in parsed.get("variable", []):
            for name, body in block.items():
                variables[name.strip('"')] = "default" in body
    return variables


def terraform_variable_problems(folder: Path, terraform: Path) -> list[str]:
    """Each job that plans passes every root variable without a default, by its exact name."""
    variables = root_variables(terraform)
    required = {name for name, has_default in variables.items() if not has_default}
    problems = []
    workflow = load_workflows(folder).get("terraform")
    if workflow is None:
        return ["no terraform.yml"]
    planning = [(name, job) for name, job in _jobs(workflow) if "terraform plan" in _runs(job)]
    if not planning:
        problems.append("terraform.yml has no job that runs terraform plan")
    for job_name, job in planning:
        envs = [workflow.get("env") or {}, job.get("env") or {}]
        envs += [step.get("env") or {} for step in job.get("steps") or []]
        passed = {m.group(1) for env in envs for key in env if (m := _TF_VAR_ENV.match(key))}
        problems += [
            f"{job_name}: root variable {name} has no default and is not passed as TF_VAR_{name}"
            for name in sorted(required - passed)
        ]
        problems += [
            f"{job_name}: TF_VAR_{name} is not a root variable (Terraform matches case-sensitively)"
            for name in sorted(passed - set(variables))
        ]
    return problems


def unprotected_jobs(folder: Path) -> list[str]:
    """Jobs that apply Terraform or roll out ECS services run in an environment, on main only."""
    problems = []
    for stem, workflow in load_workflows(folder).items():
        for job_name, job in _jobs(workflow):
            applies = "terraform apply" in _runs(job)
            deploys = any("amazon-ecs-deploy-task-definition" in uses for uses in _uses(job))
            if not (applies or deploys):
                continue
            environment = job.get("environment")
            if isinstance(environment, dict):
                environment = environment.get("name")
            if not environment:
                problems.append(f"{stem}.{job_name} changes production outside an environment")
            if applies and "refs/heads/main" not in str(job.get("if", "")):
                problems.append(f"{stem}.{job_name} applies without requiring refs/heads/main")
    return problems


def dangerous_triggers(folder: Path) -> list[str]:
    problems = []
    for stem, workflow in load_workflows(folder).items():
        triggers = workflow.get("on")
        names = [triggers] if isinstance(triggers, str) else list(triggers or [])
        if "pull_request_target" in names:
            problems.append(f"{stem}.yml runs on pull_request_target")
    return problems


# --- the repository passes ---


def test_actions_are_pinned_by_commit_sha() -> None:
    assert unpinned_actions(WORKFLOWS) == []


def test_ci_and_terraform_workflows_install_one_terraform_version() -> None:
    assert terraform_version_problems(WORKFLOWS) == []
    assert terraform_versions(WORKFLOWS).keys() >= {"ci", "terraform"}


def test_readme_lists_every_secret_and_variable_the_workflows_read() -> None:
    assert undocumented_names(WORKFLOWS, README) == []
    # The seed design's names are kept.
    names = {name for _, name in read_names(WORKFLOWS)}
    assert {
        "AWS_REGION",
        "TF_BACKEND_BUCKET",
        "TF_BACKEND_KEY",
        "TF_BACKEND_REGION",
        "TF_VAR_PROJECT_PREFIX",
        "TF_VAR_OPENAQ_API_KEY",
        "ECS_CLUSTER",
        *(
            f"{part}_{kind}"
            for part in ("API", "MLFLOW", "MAGE")
            for kind in ("ECR_REPOSITORY", "ECS_SERVICE")
        ),
    } <= names
    assert not any("PASSWORD" in name for name in names), "database passwords stay out of GitHub"


def test_every_required_terraform_variable_is_passed() -> None:
    assert {name for name, has_default in root_variables(TERRAFORM).items() if not has_default} >= {
        "domain_name",
        "certificate_arn",
        "admin_cidr_blocks",
    }
    assert terraform_variable_problems(WORKFLOWS, TERRAFORM) == []


def test_apply_and_deploy_run_in_a_protected_environment() -> None:
    assert unprotected_jobs(WORKFLOWS) == []


def test_no_workflow_runs_on_pull_request_target() -> None:
    assert dangerous_triggers(WORKFLOWS) == []


def test_terraform_docs_tables_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "terraform_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- each check fails on a copy broken one way ---


class WorkflowCopy:
    """A copy of .github/workflows whose files are edited by exact, asserted replacements."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def replace(self, stem: str, old: str, new: str) -> None:
        file = self.path / f"{stem}.yml"
        text = file.read_text()
        assert old in text, f"{old!r} is not in {stem}.yml"
        file.write_text(text.replace(old, new, 1))


@pytest.fixture
def workflows(tmp_path: Path) -> WorkflowCopy:
    shutil.copytree(WORKFLOWS, tmp_path / "workflows")
    return WorkflowCopy(tmp_path / "workflows")


def _pin(stem: str, action: str) -> str:
    """The pinned ``uses:`` value of ``action`` in the real workflow ``stem``."""
    match = re.search(
        rf"uses: ({re.escape(action)}@[0-9a-f]{{40}})", (WORKFLOWS / f"{stem}.yml").read_text()
    )
    assert match, f"{action} is not pinned in {stem}.yml"
    return match.group(1)


@pytest.mark.parametrize(
    "pin_to",
    ["v7", "3d3c42e", "3d3c42e5aac5ba805825da76410c181273ba90b1 # no version"],
    ids=["tag", "short-sha", "no-version-comment"],
)
def test_unpinned_action_fails(workflows: WorkflowCopy, pin_to: str) -> None:
    pinned = _pin("deploy", "actions/checkout")
    line = re.search(rf"{re.escape(pinned)}[^\n]*", (workflows.path / "deploy.yml").read_text())
    assert line
    workflows.replace("deploy", line.group(0), f"actions/checkout@{pin_to}")
    assert any("deploy" in problem for problem in unpinned_actions(workflows.path))


def test_a_second_terraform_version_fails(workflows: WorkflowCopy) -> None:
    (version,) = terraform_versions(WORKFLOWS)["ci"]
    workflows.replace("ci", f'TERRAFORM_VERSION: "{version}"', 'TERRAFORM_VERSION: "1.9.0"')
    assert any(
        "different Terraform versions" in p for p in terraform_version_problems(workflows.path)
    )


def test_setup_terraform_without_a_version_fails(workflows: WorkflowCopy) -> None:
    workflows.replace(
        "ci", "terraform_version: ${{ env.TERRAFORM_VERSION }}", "terraform_wrapper: true"
    )
    assert any("'latest'" in p for p in terraform_version_problems(workflows.path))


def test_an_undocumented_variable_fails(workflows: WorkflowCopy) -> None:
    workflows.replace(
        "deploy",
        "ECS_CLUSTER: ${{ vars.ECS_CLUSTER }}",
        "ECS_CLUSTER: ${{ vars.ECS_CLUSTER_NAME }}",
    )
    problems = undocumented_names(workflows.path, README)
    assert "variable ECS_CLUSTER_NAME (read by deploy) is not in the README's table" in problems


def test_a_secret_documented_as_a_variable_fails(workflows: WorkflowCopy, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    text = README.read_text()
    row = "| `TF_VAR_OPENAQ_API_KEY` | secret |"
    assert row in text
    readme.write_text(text.replace(row, "| `TF_VAR_OPENAQ_API_KEY` | variable |"))
    problems = undocumented_names(workflows.path, readme)
    assert any(p.startswith("secret TF_VAR_OPENAQ_API_KEY") for p in problems)


def test_a_readme_row_no_workflow_reads_fails(workflows: WorkflowCopy, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    text = README.read_text()
    row = "| `ECS_CLUSTER` | variable |"
    assert row in text
    readme.write_text(text.replace(row, "| `OLD_DB_PASSWORD` | secret | gone | deploy |\n" + row))
    assert "the README lists secret OLD_DB_PASSWORD, which no workflow reads" in undocumented_names(
        workflows.path, readme
    )


def test_a_wrong_reader_in_the_readme_fails(workflows: WorkflowCopy) -> None:
    # terraform.yml starts reading a deploy-only variable; the README still says "deploy".
    workflows.replace(
        "terraform",
        "${{ vars.TF_BACKEND_KEY }}",
        "${{ vars.TF_BACKEND_KEY }}${{ vars.ECS_CLUSTER }}",
    )
    assert any(
        p.startswith("variable ECS_CLUSTER: the README says")
        for p in undocumented_names(workflows.path, README)
    )


def test_a_required_terraform_variable_not_passed_fails(workflows: WorkflowCopy) -> None:
    workflows.replace("terraform", "GH_TF_VAR_certificate_arn:", "GH_TF_VAR_unused_certificate:")
    problems = terraform_variable_problems(workflows.path, TERRAFORM)
    assert (
        "plan: root variable certificate_arn has no default and is not passed as "
        "TF_VAR_certificate_arn" in problems
    )


def test_an_upper_case_tf_var_fails(workflows: WorkflowCopy) -> None:
    workflows.replace("terraform", "GH_TF_VAR_project_prefix:", "TF_VAR_PROJECT_PREFIX:")
    problems = terraform_variable_problems(workflows.path, TERRAFORM)
    assert any("TF_VAR_PROJECT_PREFIX is not a root variable" in p for p in problems)


def test_a_new_required_terraform_variable_fails(workflows: WorkflowCopy, tmp_path: Path) -> None:
    terraform = tmp_path / "terraform"
    shutil.copytree(TERRAFORM, terraform, ignore=shutil.ignore_patterns(".terraform", "modules"))
    with (terraform / "variables.tf").open("a") as handle:
        handle.write(
            '\nvariable "billing_account" {\n  description = "x"\n  type        = string\n}\n'
        )
    problems = terraform_variable_problems(workflows.path, terraform)
    assert any("billing_account has no default" in p for p in problems)


def test_apply_outside_an_environment_fails(workflows: WorkflowCopy) -> None:
    workflows.replace("terraform", "    environment: production\n", "")
    assert any(
        "terraform.apply changes production outside" in p for p in unprotected_jobs(workflows.path)
    )


def test_deploy_outside_an_environment_fails(workflows: WorkflowCopy) -> None:
    workflows.replace("deploy", "    environment: production\n", "")
    assert any(
        "deploy.deploy changes production outside" in p for p in unprotected_jobs(workflows.path)
    )


def test_apply_not_limited_to_main_fails(workflows: WorkflowCopy) -> None:
    workflows.replace("terraform", "github.ref == 'refs/heads/main' && needs.plan", "needs.plan")
    assert any("without requiring refs/heads/main" in p for p in unprotected_jobs(workflows.path))


def test_pull_request_target_fails(workflows: WorkflowCopy) -> None:
    workflows.replace("terraform", "  pull_request:\n", "  pull_request_target:\n")
    assert dangerous_triggers(workflows.path) == ["terraform.yml runs on pull_request_target"]


def test_stale_terraform_docs_fail(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "terraform_docs.py", tmp_path / "scripts")
    shutil.copytree(TERRAFORM, tmp_path / "terraform", ignore=shutil.ignore_patterns(".terraform"))
    variables = tmp_path / "terraform" / "modules" / "bucket" / "variables.tf"
    text = variables.read_text()
    anchor = 'description = "'
    assert anchor in text
    variables.write_text(text.replace(anchor, 'description = "Changed. ', 1))
    result = subprocess.run(
        [sys.executable, str(tmp_path / "scripts" / "terraform_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "terraform/modules/bucket/README.md is stale" in result.stdout
