"""The static Terraform checks: the fixture and the real tree pass, and each breakage fails.

The fixture repository (``fixtures/wired``) is a small root module wired by the conventions,
with stand-in Dockerfiles and entrypoints; its copies are broken one way per test. The same
breakages are then made to a copy of the real ``terraform/`` to show the checker catches them
there too.
"""

from __future__ import annotations

import textwrap

import hcl2
import pytest
import yaml

from hourcast.settings import required_environment_variables
from hourcast.targets import TARGETS
from tests.infra.conftest import ROOT, TreeCopy
from tests.infra.tfcheck import (
    check_repository,
    check_terraform,
    check_wiring,
    entrypoint_requirements,
    references,
)

FIXTURE_SETTINGS = {
    "api": ["HOURCAST_ENV", "HOURCAST_DB_HOST", "HOURCAST_DB_PASSWORD"],
    "mage": ["HOURCAST_ENV", "HOURCAST_TRAFFIC_SOURCE", "HOURCAST_OPENAQ_API_KEY"],
}


def fixture_problems(tree: TreeCopy) -> list[str]:
    terraform = tree.path / "terraform"
    problems = check_terraform(terraform) + check_wiring(
        terraform,
        tree.path,
        settings_requirements=lambda service: FIXTURE_SETTINGS.get(service, []),
        secret_settings=["HOURCAST_DB_PASSWORD", "HOURCAST_OPENAQ_API_KEY"],
    )
    return [str(problem) for problem in problems]


def assert_only(problems: list[str], *expected: str) -> None:
    """Each expected text is in exactly one problem, and there are no others."""
    assert len(problems) == len(expected), "\n".join(problems)
    for text in expected:
        assert sum(text in problem for problem in problems) == 1, (text, problems)


# ---------------------------------------------------------------------------------------------
# The fixture
# ---------------------------------------------------------------------------------------------


def test_the_wired_fixture_passes(wired: TreeCopy) -> None:
    assert fixture_problems(wired) == []


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("var.nope", "var.nope is not declared"),
        ("local.nope", "local.nope is not defined"),
        ("module.nope.id", "module.nope is not called"),
        ("module.app_db.nope", "module.app_db.nope: module app_db has no output nope"),
        ("data.aws_caller_identity.nope.id", "data.aws_caller_identity.nope is not declared"),
        ("aws_s3_bucket.nope.arn", "aws_s3_bucket.nope is not declared"),
        ('"${aws_kms_key.secrets.arn}/${var.nope}"', "var.nope is not declared"),
        ("[for x in var.nope : x.id]", "var.nope is not declared"),
    ],
)
def test_a_dangling_reference_fails(wired: TreeCopy, expression: str, reason: str) -> None:
    wired.add_file(
        "terraform/dangling.tf",
        f'output "dangling" {{\n  description = "x"\n  value       = {expression}\n}}\n',
    )
    assert_only(fixture_problems(wired), f"dangling.tf:3: {reason}")


def test_a_dangling_reference_inside_a_module_fails(wired: TreeCopy) -> None:
    wired.replace(r"aws_s3_bucket\.this\.arn", "aws_s3_bucket.that.arn")
    assert_only(fixture_problems(wired), "bucket/outputs.tf:8: aws_s3_bucket.that is not declared")


def test_an_undeclared_module_argument_fails(wired: TreeCopy) -> None:
    wired.replace(r'module "api" \{\n', 'module "api" {\n  colour = "blue"\n')
    assert_only(
        fixture_problems(wired),
        "module api: argument colour is not a variable of ecs_service",
    )


def test_a_required_module_argument_left_out_fails(wired: TreeCopy) -> None:
    wired.delete_line(r"image  = var\.images", after='module "api"')
    assert_only(fixture_problems(wired), "module api: required variable image is not passed")


def test_a_variable_without_a_type_fails(wired: TreeCopy) -> None:
    wired.replace(
        r'type        = string\n  description = "Bucket name\."', 'description = "Bucket name."'
    )
    assert_only(fixture_problems(wired), "bucket/variables.tf:1: variable name has no type")


def test_a_variable_without_a_description_fails(wired: TreeCopy) -> None:
    wired.delete_line(r'description = "Bucket name\."', after="type        = string")
    assert_only(fixture_problems(wired), "bucket/variables.tf:1: variable name has no description")


def test_an_empty_description_fails(wired: TreeCopy) -> None:
    wired.replace(r'description = "Bucket name\."', 'description = ""', after='variable "name"')
    assert_only(fixture_problems(wired), "variable name has no description")


def test_an_unused_variable_fails(wired: TreeCopy) -> None:
    wired.replace(r"bucket = var\.name", 'bucket = "fixed"')
    assert_only(fixture_problems(wired), "variable name is declared but never used")


def test_hcl_that_does_not_parse_fails(wired: TreeCopy) -> None:
    wired.add_file("terraform/broken.tf", 'resource "aws_s3_bucket" "x" {\n  bucket = \n}\n')
    problems = fixture_problems(wired)
    assert len(problems) == 1
    assert "broken.tf" in problems[0]
    assert "HCL does not parse" in problems[0]


def test_a_setting_the_code_needs_but_the_task_lacks_fails(wired: TreeCopy) -> None:
    wired.delete_line(r"HOURCAST_DB_HOST = ", after='module "api"')
    assert_only(
        fixture_problems(wired),
        "module api: HOURCAST_DB_HOST is required by hourcast.settings but the task definition "
        "supplies it neither in environment nor in secrets",
    )


def test_a_variable_the_entrypoint_requires_but_the_task_lacks_fails(wired: TreeCopy) -> None:
    script = wired.path / "mlflow_server" / "entrypoint.sh"
    script.write_text(script.read_text() + "require MLFLOW_SERVER_ALLOWED_HOSTS\n")
    assert_only(
        fixture_problems(wired),
        "module mlflow: MLFLOW_SERVER_ALLOWED_HOSTS is required by mlflow_server/entrypoint.sh",
    )


def test_a_secret_the_execution_role_cannot_read_fails(wired: TreeCopy) -> None:
    wired.delete_line(r"module\.app_db\.master_user_secret_arn,", after='"execution"')
    assert_only(
        fixture_problems(wired),
        "module api: secret HOURCAST_DB_PASSWORD: the execution role cannot read "
        "module.app_db.master_user_secret_arn",
    )


def test_an_execution_policy_that_is_not_attached_fails(wired: TreeCopy) -> None:
    wired.replace(r"role   = aws_iam_role\.execution\.id", "role   = aws_iam_role.task_api.id")
    problems = fixture_problems(wired)
    assert len(problems) == 3  # once per service
    assert all("is not attached to aws_iam_role.execution" in problem for problem in problems)


def test_a_secret_encrypted_with_a_key_the_execution_role_cannot_use_fails(
    wired: TreeCopy,
) -> None:
    wired.replace(r'actions   = \["kms:Decrypt"\]', 'actions   = ["kms:DescribeKey"]')
    assert_only(
        fixture_problems(wired),
        "module mage: secret HOURCAST_OPENAQ_API_KEY is encrypted with "
        "${aws_kms_key.secrets.arn}, which the execution role may not kms:Decrypt",
    )


def test_a_secret_not_created_in_terraform_fails(wired: TreeCopy) -> None:
    wired.replace(
        r"aws_secretsmanager_secret\.openaq_api_key\.arn\n",
        "var.openaq_secret_arn\n",
        after='module "mage"',
    )
    wired.add_file(
        "terraform/extra.tf",
        'variable "openaq_secret_arn" {\n  type        = string\n  description = "x"\n}\n',
    )
    assert_only(
        fixture_problems(wired),
        "secret HOURCAST_OPENAQ_API_KEY: var.openaq_secret_arn is not a secret created in this "
        "Terraform",
    )


def test_an_rds_instance_that_does_not_manage_its_password_fails(wired: TreeCopy) -> None:
    wired.replace("manage_master_user_password = true", "manage_master_user_password = false")
    problems = fixture_problems(wired)
    assert len(problems) == 2  # the API's and MLflow's database
    assert all("does not manage its master password" in problem for problem in problems)


def test_a_secret_in_the_plain_environment_fails(wired: TreeCopy) -> None:
    wired.replace(
        r"HOURCAST_DB_HOST = module\.app_db\.address\n",
        'HOURCAST_DB_HOST = module.app_db.address\n    HOURCAST_DB_PASSWORD = "placeholder"\n',
    )
    assert_only(
        fixture_problems(wired),
        "module api: HOURCAST_DB_PASSWORD is a secret; pass it in secrets",
    )


def test_a_secret_that_is_not_an_arn_reference_fails(wired: TreeCopy) -> None:
    wired.replace(r'"\$\{module\.app_db\.master_user_secret_arn\}:password::"', '"plain"')
    assert_only(
        fixture_problems(wired), "module api: secret HOURCAST_DB_PASSWORD must be a secret ARN"
    )


def test_hourcast_env_other_than_production_fails(wired: TreeCopy) -> None:
    wired.replace(r'HOURCAST_ENV     = "production"', 'HOURCAST_ENV     = "staging"')
    assert_only(fixture_problems(wired), 'module api: HOURCAST_ENV must be "production"')


def test_a_bucket_missing_from_the_task_role_policy_fails(wired: TreeCopy) -> None:
    wired.replace(
        r'resources = \["\$\{module\.traffic_bucket\.arn\}/\*", ',
        "resources = [",
        after='"task_mage" {',
    )
    assert_only(
        fixture_problems(wired),
        "module mage: the task names module.traffic_bucket but data.aws_iam_policy_document."
        "task_mage grants no s3:GetObject on ${module.traffic_bucket.arn}/*",
    )


def test_a_task_role_that_is_not_the_service_own_fails(wired: TreeCopy) -> None:
    wired.replace(
        r"task_role_arn      = aws_iam_role\.task_api\.arn",
        "task_role_arn      = aws_iam_role.task_mage.arn",
    )
    assert_only(
        fixture_problems(wired),
        "module api: task_role_arn must be aws_iam_role.task_api.arn, "
        "not aws_iam_role.task_mage.arn",
    )


def test_entrypoint_scripts_are_found_through_the_dockerfile(wired: TreeCopy) -> None:
    # orchestration runs a path relative to its WORKDIR, inside a copied folder.
    found = entrypoint_requirements(wired.path / "orchestration" / "Dockerfile", wired.path)
    assert found == {"HOURCAST_TRAFFIC_SOURCE": wired.path / "orchestration" / "entrypoint.sh"}
    (wired.path / "orchestration" / "Dockerfile").write_text(
        'FROM python:3.11-slim\nCMD ["mage", "start"]\n'
    )
    assert entrypoint_requirements(wired.path / "orchestration" / "Dockerfile", wired.path) == {}


def test_references_skip_names_bound_by_for_dynamic_and_templates() -> None:
    text = textwrap.dedent(
        """\
        locals {
          a = [for k, v in var.m : "${k}=${v.id}" if v.on]
          b = <<-EOT
            ${aws_s3_bucket.x.arn} %{ for s in var.list }${s}%{ endfor }
          EOT
          c = { key = module.db.address }
          d = "%{ for item in var.items }${item.name}%{ endfor }"
        }
        """
    )
    tree = hcl2.parses_to_tree(text)
    found = sorted(str(reference) for reference in references(tree))
    assert found == ["aws_s3_bucket.x.arn", "module.db.address", "var.items", "var.m"]


# ---------------------------------------------------------------------------------------------
# The real tree
# ---------------------------------------------------------------------------------------------


def real_problems(terraform: TreeCopy) -> list[str]:
    return [str(problem) for problem in check_repository(ROOT, terraform=terraform.path)]


def test_the_real_terraform_passes() -> None:
    problems = check_repository(ROOT)
    assert problems == [], "\n".join(str(problem) for problem in problems)


def test_the_real_entrypoints_declare_requirements() -> None:
    mlflow = entrypoint_requirements(ROOT / "mlflow_server" / "Dockerfile", ROOT)
    assert {"MLFLOW_ARTIFACTS_DESTINATION", "MLFLOW_SERVER_ALLOWED_HOSTS"} <= mlflow.keys()


def test_a_dangling_reference_in_the_real_tree_fails(real_terraform: TreeCopy) -> None:
    real_terraform.add_file(
        "dangling.tf", 'output "dangling" {\n  description = "x"\n  value = local.nope\n}\n'
    )
    assert "dangling.tf:3: local.nope is not defined" in "\n".join(real_problems(real_terraform))


def test_an_undeclared_module_argument_in_the_real_tree_fails(real_terraform: TreeCopy) -> None:
    real_terraform.replace(r'module "api" \{\n', 'module "api" {\n  colour = "blue"\n')
    problems = "\n".join(real_problems(real_terraform))
    assert "module api: argument colour is not a variable of ecs_service" in problems


def test_a_setting_the_real_task_lacks_fails(real_terraform: TreeCopy) -> None:
    variable = "HOURCAST_MLFLOW_TRACKING_URI"
    assert variable in required_environment_variables("api")
    real_terraform.delete_line(rf"\b{variable}\s*=", after='module "api"')
    problems = "\n".join(real_problems(real_terraform))
    assert f"module api: {variable} is required by hourcast.settings" in problems


def test_a_secret_the_real_execution_role_cannot_read_fails(real_terraform: TreeCopy) -> None:
    real_terraform.replace(
        r"secrets\s*=\s*\{\n",
        "secrets = {\n    HOURCAST_EXTRA = aws_secretsmanager_secret.extra.arn\n",
        after='module "api"',
    )
    real_terraform.add_file(
        "extra.tf", 'resource "aws_secretsmanager_secret" "extra" {\n  name = "extra"\n}\n'
    )
    problems = "\n".join(real_problems(real_terraform))
    assert (
        "module api: secret HOURCAST_EXTRA: the execution role cannot read "
        "aws_secretsmanager_secret.extra.arn" in problems
    )


def _unquote(value: object) -> str:
    return str(value).strip('"')


def test_the_api_and_mage_reach_mages_named_retrain_triggers() -> None:
    """Retraining in AWS: the trigger names exist, the URL is Mage's, both hold the token."""
    with (ROOT / "terraform" / "main.tf").open() as file:
        local = {k: v for block in hcl2.load(file)["locals"] for k, v in block.items()}
    with (ROOT / "terraform" / "services.tf").open() as file:
        modules = {
            _unquote(name): body
            for block in hcl2.load(file)["module"]
            for name, body in block.items()
        }
    triggers_yaml = ROOT / "orchestration" / "pipelines" / "train" / "triggers.yaml"
    api_triggers = {
        trigger["name"]
        for trigger in yaml.safe_load(triggers_yaml.read_text())["triggers"]
        if trigger["schedule_type"] == "api"
    }
    named = dict(pair.split("=") for pair in _unquote(local["mage_retrain_triggers"]).split(","))
    assert set(named) == set(TARGETS)
    assert set(named.values()) <= api_triggers
    assert _unquote(local["mage_internal_url"]) == (
        "http://${local.mage_service_connect_name}:${local.mage_port}"
    )
    assert modules["mage"]["service_connect"]["dns_name"] == "${local.mage_service_connect_name}"
    assert "api" in modules["mage"]["ingress_security_group_ids"]
    for service, url in (("api", "${local.mage_internal_url}"), ("mage", None)):
        environment = modules[service]["environment"]
        if url is not None:
            assert environment["HOURCAST_MAGE_URL"] == url
        assert environment["HOURCAST_MAGE_RETRAIN_TRIGGERS"] == "${local.mage_retrain_triggers}"
        assert environment["HOURCAST_MAGE_DB_NAME"] == "${local.mage_db_name}"
        assert "HOURCAST_MAGE_TRIGGER_TOKEN" in modules[service]["secrets"]
