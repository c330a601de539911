provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge(var.tags, {
      Project   = var.project_prefix
      ManagedBy = "terraform"
    })
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# The zones are named, not "whatever the region has": a zone AWS adds later must not move subnets.
data "aws_availability_zones" "selected" {
  state = "available"

  filter {
    name   = "zone-name"
    values = [for suffix in var.availability_zone_suffixes : "${var.aws_region}${suffix}"]
  }

  lifecycle {
    postcondition {
      condition     = length(self.names) == length(var.availability_zone_suffixes)
      error_message = "availability_zone_suffixes: not every zone ${join(", ", [for suffix in var.availability_zone_suffixes : "${var.aws_region}${suffix}"])} is available in this account."
    }
  }
}

locals {
  prefix     = var.project_prefix
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  availability_zones = sort(data.aws_availability_zones.selected.names)

  # Names the workflows rely on (see README.md, "Names"): the cluster is the prefix, each service,
  # task definition family, container and ECR repository is <prefix>-<service>.
  services = {
    api    = "${local.prefix}-api"
    mlflow = "${local.prefix}-mlflow"
    mage   = "${local.prefix}-mage"
    # Optional (dask.tf, var.dask_workers > 0).
    dask_scheduler = "${local.prefix}-dask-scheduler"
    dask_worker    = "${local.prefix}-dask-worker"
  }

  host_names = merge(
    {
      api    = "api.${var.domain_name}"
      mlflow = "mlflow.${var.domain_name}"
      mage   = "mage.${var.domain_name}"
    },
    local.dask_enabled ? { dask = local.dask_host_name } : {},
  )

  # Inside the VPC the API and Mage reach the tracking server through Service Connect under
  # this name, never through the public load balancer.
  mlflow_service_connect_name = "mlflow"
  mlflow_port                 = 5000
  mlflow_internal_url         = "http://${local.mlflow_service_connect_name}:${local.mlflow_port}"

  # The API starts retraining through Mage's API triggers under this Service Connect name. The
  # triggers are named, not numbered: Mage numbers them when it first syncs triggers.yaml, and
  # both services look the numbers up in Mage's database (HOURCAST_MAGE_DB_NAME).
  mage_service_connect_name = "mage"
  mage_port                 = 6789
  mage_internal_url         = "http://${local.mage_service_connect_name}:${local.mage_port}"
  mage_db_name              = "mage"
  mage_retrain_triggers     = "traffic=retrain_traffic,pm25=retrain_pm25"

  mage_owner_email = coalesce(var.mage_owner_email, "admin@${var.domain_name}")
}

################################################################################
# Encryption key
################################################################################

# One customer managed key for the project's data at rest: buckets, databases, secrets, images,
# log groups, the alarm topic. The first statement lets IAM policies in this account grant use of
# the key (the default key policy); the services named below use it on the account's behalf.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:A key policy's Resource "*" means this key only; the statement is AWS's default that hands control of the key to IAM in this account
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; the statement is AWS's default that hands control of the key to IAM in this account
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only; the statement is AWS's default that hands control of the key to IAM in this account
  statement {
    sid       = "AccountIamControlsTheKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsThisAccountsLogGroups"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.aws_region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.aws_region}:${local.account_id}:log-group:*"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublishToTheEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${local.prefix}: buckets, databases, secrets, images, logs, alarm topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.prefix}"
  target_key_id = aws_kms_key.this.key_id
}

################################################################################
# ECS cluster
################################################################################

resource "aws_service_discovery_http_namespace" "this" {
  name        = local.prefix
  description = "Service Connect names of ${local.prefix} (the MLflow tracking server)"
}

resource "aws_ecs_cluster" "this" {
  #checkov:skip=CKV_AWS_65:Container Insights is the variable container_insights, off by default: its per-service metrics cost more than the minimum-size tasks; AWS/ECS CPU and memory metrics stay free

  name = local.prefix

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }

  service_connect_defaults {
    namespace = aws_service_discovery_http_namespace.this.arn
  }
}
