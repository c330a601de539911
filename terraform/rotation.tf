################################################################################
# Restart after the database password rotation
################################################################################

# RDS rotates both master passwords on var.db_password_rotation_schedule (within an hour of it).
# ECS hands a task its secrets when the task starts, so a running task keeps the old password:
# its open connections go on working, new ones fail. This schedule starts fresh tasks (same task
# definition, so the same image) after the rotation window.

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "restart_services" {
  statement {
    sid     = "ForceNewDeployment"
    actions = ["ecs:UpdateService"]
    resources = [
      module.api.service_arn,
      module.mlflow.service_arn,
      module.mage.service_arn,
    ]
  }

  statement {
    sid       = "DecryptScheduleInput"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
  }
}

resource "aws_iam_role" "restart_services" {
  name               = "${local.prefix}-restart-services"
  description        = "EventBridge Scheduler: restart the ECS services after the database password rotation"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

resource "aws_iam_role_policy" "restart_services" {
  name   = "force-new-deployment"
  role   = aws_iam_role.restart_services.id
  policy = data.aws_iam_policy_document.restart_services.json
}

resource "aws_scheduler_schedule" "restart_services" {
  for_each = local.load_balanced_services

  name                         = "${local.services[each.key]}-restart-after-db-rotation"
  description                  = "Force a new deployment of ${local.services[each.key]} after the RDS master passwords rotate"
  schedule_expression          = var.restart_after_rotation_schedule
  schedule_expression_timezone = "UTC"
  kms_key_arn                  = aws_kms_key.this.arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    # Universal target: the ECS UpdateService API call.
    arn      = "arn:${local.partition}:scheduler:::aws-sdk:ecs:updateService"
    role_arn = aws_iam_role.restart_services.arn
    input = jsonencode({
      Cluster            = aws_ecs_cluster.this.name
      Service            = each.value.service_name
      ForceNewDeployment = true
    })
  }
}
