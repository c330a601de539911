################################################################################
# Security group
################################################################################

output "security_group_id" {
  description = "ID of the tasks' security group (allow it into the databases and the services it calls)."
  value       = try(aws_security_group.this[0].id, null)
}

################################################################################
# Logs
################################################################################

output "log_group_name" {
  description = "CloudWatch log group of the container (and its Service Connect proxy)."
  value       = try(aws_cloudwatch_log_group.this[0].name, null)
}

output "log_group_arn" {
  description = "ARN of the container's log group."
  value       = try(aws_cloudwatch_log_group.this[0].arn, null)
}

################################################################################
# Task definition
################################################################################

output "task_definition_family" {
  description = "Family of the task definition (the deploy workflow renders its latest revision with a new image)."
  value       = try(aws_ecs_task_definition.this[0].family, null)
}

output "task_definition_arn" {
  description = "ARN of the task definition revision Terraform registered."
  value       = try(aws_ecs_task_definition.this[0].arn, null)
}

output "container_name" {
  description = "Name of the container in the task definition."
  value       = var.name
}

################################################################################
# Load balancing
################################################################################

output "target_group_arn" {
  description = "ARN of the target group (null without a load balancer)."
  value       = try(aws_lb_target_group.this[0].arn, null)
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group, for CloudWatch metrics."
  value       = try(aws_lb_target_group.this[0].arn_suffix, null)
}

################################################################################
# Service
################################################################################

output "service_name" {
  description = "Name of the ECS service."
  value       = try(aws_ecs_service.this[0].name, null)
}

output "service_arn" {
  description = "ARN of the ECS service."
  value       = try(aws_ecs_service.this[0].id, null)
}
