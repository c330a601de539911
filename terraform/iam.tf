data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${var.aws_region}:${local.account_id}:*"]
    }
  }
}

################################################################################
# Execution role (ECS itself: pull images, write logs, inject secrets)
################################################################################

data "aws_iam_policy_document" "execution" {
  # Every secret a task definition references in `secrets` (valueFrom), and nothing else.
  statement {
    sid     = "ReadTaskSecrets"
    actions = ["secretsmanager:GetSecretValue"]
    resources = [
      module.app_db.master_user_secret_arn,
      module.mlflow_db.master_user_secret_arn,
      aws_secretsmanager_secret.openaq_api_key.arn,
      aws_secretsmanager_secret.api_jwt_signing_key.arn,
      aws_secretsmanager_secret.mage_trigger_token.arn,
      aws_secretsmanager_secret.mage.arn,
    ]
  }

  statement {
    sid       = "DecryptSecretsAndImages"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "secretsmanager.${var.aws_region}.amazonaws.com",
        "ecr.${var.aws_region}.amazonaws.com",
      ]
    }
  }

  statement {
    sid = "PullImages"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [for repository in module.ecr : repository.arn]
  }

  # GetAuthorizationToken has no resource type: IAM only accepts "*" for it.
  statement {
    sid       = "LogInToEcr"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid     = "WriteContainerLogs"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [
      "${module.api.log_group_arn}:*",
      "${module.mlflow.log_group_arn}:*",
      "${module.mage.log_group_arn}:*",
    ]
  }
}

resource "aws_iam_role" "execution" {
  name               = "${local.prefix}-ecs-execution"
  description        = "ECS task execution role of ${local.prefix}: image pulls, container logs, secret injection"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-log-inject-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

################################################################################
# Task roles (the containers' own AWS calls)
################################################################################

# No task role reads Secrets Manager: every secret reaches the containers through the execution
# role (ECS `secrets`), so the code never looks one up itself.

# The buckets are SSE-KMS encrypted with the project key: reading an object needs kms:Decrypt,
# writing one kms:GenerateDataKey, both only through S3.
data "aws_iam_policy_document" "bucket_key" {
  for_each = {
    read       = ["kms:Decrypt"]
    read_write = ["kms:Decrypt", "kms:GenerateDataKey"]
  }

  statement {
    sid       = "UseBucketKey"
    actions   = each.value
    resources = [aws_kms_key.this.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.aws_region}.amazonaws.com"]
    }
  }
}

# MLflow serves the artifacts (proxied), so it alone writes the artifact bucket.
data "aws_iam_policy_document" "task_mlflow" {
  source_policy_documents = [data.aws_iam_policy_document.bucket_key["read_write"].json]

  statement {
    sid       = "ListArtifacts"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [module.artifacts_bucket.arn]
  }

  statement {
    sid       = "ReadWriteArtifacts"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${module.artifacts_bucket.arn}/*"]
  }
}

# The API loads models through MLflow; read access to the artifacts is for reading a model's
# files directly when needed, never for writing.
data "aws_iam_policy_document" "task_api" {
  source_policy_documents = [data.aws_iam_policy_document.bucket_key["read"].json]

  statement {
    sid       = "ListArtifacts"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [module.artifacts_bucket.arn]
  }

  statement {
    sid       = "ReadArtifacts"
    actions   = ["s3:GetObject"]
    resources = ["${module.artifacts_bucket.arn}/*"]
  }
}

# Mage reads the traffic objects and keeps its block outputs and pipeline logs in the traffic
# bucket (mage/); it reads artifacts (it logs them through MLflow, which writes them).
data "aws_iam_policy_document" "task_mage" {
  source_policy_documents = [data.aws_iam_policy_document.bucket_key["read_write"].json]

  statement {
    sid       = "ListBuckets"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [module.traffic_bucket.arn, module.artifacts_bucket.arn]
  }

  statement {
    sid       = "ReadTrafficObjects"
    actions   = ["s3:GetObject"]
    resources = ["${module.traffic_bucket.arn}/*"]
  }

  statement {
    sid       = "ReadWriteMageState"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${module.traffic_bucket.arn}/mage/*"]
  }

  statement {
    sid       = "ReadArtifacts"
    actions   = ["s3:GetObject"]
    resources = ["${module.artifacts_bucket.arn}/*"]
  }
}

resource "aws_iam_role" "task_mlflow" {
  name               = "${local.services.mlflow}-task"
  description        = "Task role of the MLflow tracking server: read/write on the artifact bucket"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "task_mlflow" {
  name   = "artifacts-read-write"
  role   = aws_iam_role.task_mlflow.id
  policy = data.aws_iam_policy_document.task_mlflow.json
}

resource "aws_iam_role" "task_api" {
  name               = "${local.services.api}-task"
  description        = "Task role of the inference API: read on the artifact bucket"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "task_api" {
  name   = "artifacts-read"
  role   = aws_iam_role.task_api.id
  policy = data.aws_iam_policy_document.task_api.json
}

resource "aws_iam_role" "task_mage" {
  name               = "${local.services.mage}-task"
  description        = "Task role of Mage: traffic bucket (read, mage/ read-write), artifact bucket (read)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "task_mage" {
  name   = "buckets"
  role   = aws_iam_role.task_mage.id
  policy = data.aws_iam_policy_document.task_mage.json
}
