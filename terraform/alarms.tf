################################################################################
# Alarm topic
################################################################################

# Alarms notify var.alarm_sns_topic_arn, or this topic when none is given (subscribe to it:
# README.md, "Alarms").
resource "aws_sns_topic" "alarms" {
  count = var.alarm_sns_topic_arn == null ? 1 : 0

  name              = "${local.prefix}-alarms"
  kms_master_key_id = aws_kms_key.this.arn
}

locals {
  alarm_actions = [coalesce(var.alarm_sns_topic_arn, try(aws_sns_topic.alarms[0].arn, null))]

  load_balanced_services = {
    api    = module.api
    mlflow = module.mlflow
    mage   = module.mage
  }

  databases = {
    app    = module.app_db
    mlflow = module.mlflow_db
  }
}

################################################################################
# API errors
################################################################################

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name        = "${local.services.api}-5xx"
  alarm_description = "The inference API answered 5xx at least ${var.api_5xx_alarm_threshold} times in 5 minutes (bad input is a 4xx, so a 5xx is a fault)."
  namespace         = "AWS/ApplicationELB"
  metric_name       = "HTTPCode_Target_5XX_Count"
  dimensions = {
    LoadBalancer = module.alb.arn_suffix
    TargetGroup  = module.api.target_group_arn_suffix
  }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.api_5xx_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# 502/503/504 made by the load balancer itself: no healthy task, or a task that did not answer.
resource "aws_cloudwatch_metric_alarm" "alb_5xx" {
  alarm_name          = "${local.prefix}-alb-5xx"
  alarm_description   = "The load balancer answered 5xx itself (no healthy target, or a target timed out) at least ${var.api_5xx_alarm_threshold} times in 5 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_ELB_5XX_Count"
  dimensions          = { LoadBalancer = module.alb.arn_suffix }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = var.api_5xx_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

################################################################################
# Unhealthy targets
################################################################################

resource "aws_cloudwatch_metric_alarm" "unhealthy_targets" {
  for_each = local.load_balanced_services

  alarm_name        = "${local.services[each.key]}-unhealthy-targets"
  alarm_description = "A ${each.key} task failed the load balancer's health check for 5 minutes in a row."
  namespace         = "AWS/ApplicationELB"
  metric_name       = "UnHealthyHostCount"
  dimensions = {
    LoadBalancer = module.alb.arn_suffix
    TargetGroup  = each.value.target_group_arn_suffix
  }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

################################################################################
# Database storage
################################################################################

resource "aws_cloudwatch_metric_alarm" "db_free_storage" {
  for_each = local.databases

  alarm_name          = "${local.prefix}-${each.key}-db-free-storage"
  alarm_description   = "Database ${each.value.identifier} has less than ${var.db_free_storage_alarm_gib} GiB free (storage autoscaling may have reached its ceiling)."
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  dimensions          = { DBInstanceIdentifier = each.value.identifier }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = var.db_free_storage_alarm_gib * 1024 * 1024 * 1024
  treat_missing_data  = "breaching" # no data from a database is itself a problem
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
