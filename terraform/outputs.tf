################################################################################
# URLs
################################################################################

output "api_url" {
  description = "Public URL of the inference API."
  value       = "https://${local.host_names.api}"
}

output "mlflow_url" {
  description = "URL of the MLflow UI (from admin_cidr_blocks only)."
  value       = "https://${local.host_names.mlflow}"
}

output "mage_url" {
  description = "URL of the Mage UI (from admin_cidr_blocks only; log in as mage_owner_email)."
  value       = "https://${local.host_names.mage}"
}

output "mlflow_internal_url" {
  description = "Tracking URI the API and Mage use inside the VPC (Service Connect)."
  value       = local.mlflow_internal_url
}

################################################################################
# Load balancer
################################################################################

output "alb_dns_name" {
  description = "DNS name of the load balancer: point the three host names at it (CNAME or alias)."
  value       = module.alb.dns_name
}

output "alb_zone_id" {
  description = "Route 53 zone ID of the load balancer, for alias records."
  value       = module.alb.zone_id
}

################################################################################
# Images and services (names the deploy workflow uses)
################################################################################

output "ecr_repository_urls" {
  description = "ECR repository URLs by service (api, mlflow, mage): push <url>:<git sha>."
  value       = { for service, repository in module.ecr : service => repository.repository_url }
}

output "ecr_repository_names" {
  description = "ECR repository names by service (the *_ECR_REPOSITORY workflow variables)."
  value       = { for service, repository in module.ecr : service => repository.name }
}

output "ecs_cluster_name" {
  description = "Name of the ECS cluster (the ECS_CLUSTER workflow variable)."
  value       = aws_ecs_cluster.this.name
}

output "ecs_service_names" {
  description = "ECS service names by service (the *_ECS_SERVICE workflow variables); each is also its task definition family and container name."
  value = {
    api    = module.api.service_name
    mlflow = module.mlflow.service_name
    mage   = module.mage.service_name
  }
}

output "task_definition_families" {
  description = "Task definition families by service (the deploy workflow renders the latest revision of each)."
  value = {
    api    = module.api.task_definition_family
    mlflow = module.mlflow.task_definition_family
    mage   = module.mage.task_definition_family
  }
}

output "container_names" {
  description = "Container names by service, as the task definitions name them."
  value = {
    api    = module.api.container_name
    mlflow = module.mlflow.container_name
    mage   = module.mage.container_name
  }
}

################################################################################
# Data
################################################################################

output "artifacts_bucket" {
  description = "Bucket of the MLflow artifacts (under mlartifacts/)."
  value       = module.artifacts_bucket.id
}

output "traffic_bucket" {
  description = "Bucket of the raw traffic objects (metro/traffic_<year>.csv) and Mage's state (mage/)."
  value       = module.traffic_bucket.id
}

output "app_db_address" {
  description = "Private host name of the observation and Mage database."
  value       = module.app_db.address
}

output "mlflow_db_address" {
  description = "Private host name of MLflow's backend store."
  value       = module.mlflow_db.address
}

output "nat_public_ips" {
  description = "Public IPs the tasks reach the internet from."
  value       = module.network.nat_public_ips
}

################################################################################
# Secrets and alarms
################################################################################

output "secret_arns" {
  description = "ARNs of the Secrets Manager secrets the tasks read (put the OpenAQ key into openaq_api_key; read the Mage owner password from mage)."
  value = {
    openaq_api_key      = aws_secretsmanager_secret.openaq_api_key.arn
    api_jwt_signing_key = aws_secretsmanager_secret.api_jwt_signing_key.arn
    mage_trigger_token  = aws_secretsmanager_secret.mage_trigger_token.arn
    mage                = aws_secretsmanager_secret.mage.arn
    app_db_master       = module.app_db.master_user_secret_arn
    mlflow_db_master    = module.mlflow_db.master_user_secret_arn
  }
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = local.alarm_actions[0]
}

output "kms_key_arn" {
  description = "ARN of the project's KMS key (uploaders to the traffic bucket need kms:GenerateDataKey on it)."
  value       = aws_kms_key.this.arn
}

output "dask_dashboard_url" {
  description = "URL of the Dask dashboard (from admin_cidr_blocks only); null without Dask workers."
  value       = local.dask_enabled ? "https://${local.dask_host_name}" : null
}
