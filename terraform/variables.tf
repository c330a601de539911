################################################################################
# Project
################################################################################

variable "project_prefix" {
  description = "Prefix of every name: the ECS cluster is <prefix>, services, task families, containers and ECR repositories are <prefix>-api, <prefix>-mlflow, <prefix>-mage."
  type        = string
  default     = "hourcast"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.project_prefix))
    error_message = "project_prefix: 3-20 lowercase letters, digits and hyphens, starting with a letter (names such as <prefix>-mlflow-artifacts-<account> must stay within AWS limits)."
  }
}

variable "aws_region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region: a region code such as us-east-1 or eu-west-1."
  }
}

variable "tags" {
  description = "Tags added to every resource (besides Project and ManagedBy)."
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Network
################################################################################

variable "availability_zone_suffixes" {
  description = "Letters of the availability zones to use in aws_region (2 to 4; the load balancer and the databases need two), e.g. [\"a\", \"b\"] for us-east-1a and us-east-1b."
  type        = list(string)
  default     = ["a", "b"]
  nullable    = false

  validation {
    condition     = length(var.availability_zone_suffixes) >= 2 && length(var.availability_zone_suffixes) <= 4 && alltrue([for suffix in var.availability_zone_suffixes : can(regex("^[a-z]$", suffix))]) && length(distinct(var.availability_zone_suffixes)) == length(var.availability_zone_suffixes)
    error_message = "availability_zone_suffixes: 2 to 4 distinct single letters."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC, /16 to /20 (checked by modules/network)."
  type        = string
  default     = "10.40.0.0/16"
  nullable    = false
}

variable "nat_gateway" {
  description = "NAT gateways: \"single\" (cheapest), \"one_per_az\" or \"none\" (then Mage cannot reach OpenAQ, and interface_endpoint_services must include ecr.api, ecr.dkr, secretsmanager, logs; checked by modules/network)."
  type        = string
  default     = "single"
  nullable    = false
}

variable "interface_endpoint_services" {
  description = "AWS services to reach through interface VPC endpoints instead of the NAT gateway (each about 14.60 USD a month over two AZs), e.g. [\"ecr.api\", \"ecr.dkr\", \"secretsmanager\", \"logs\"] (checked by modules/network)."
  type        = list(string)
  default     = []
  nullable    = false
}

################################################################################
# Load balancer and DNS
################################################################################

variable "domain_name" {
  description = "Domain the services are published under: api.<domain>, mlflow.<domain>, mage.<domain>."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name: a lowercase DNS name such as hourcast.example.org."
  }
}

variable "certificate_arn" {
  description = "ARN of an issued ACM certificate in aws_region covering api.<domain>, mlflow.<domain> and mage.<domain> (e.g. *.<domain>)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.certificate_arn))
    error_message = "certificate_arn: an ACM certificate ARN, arn:aws:acm:<region>:<account>:certificate/<id>."
  }
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of domain_name to create the three alias records in; null to manage DNS elsewhere (CNAMEs to the alb_dns_name output)."
  type        = string
  default     = null

  validation {
    condition     = var.route53_zone_id == null || can(regex("^Z[0-9A-Z]{4,32}$", var.route53_zone_id))
    error_message = "route53_zone_id: a hosted zone ID such as Z0123456789ABCDEFGHIJ."
  }
}

variable "admin_cidr_blocks" {
  description = "IPv4 CIDRs allowed to open MLflow (no login of its own) and Mage through the load balancer; everyone else gets a 404. The API is open to all."
  type        = list(string)
  nullable    = false

  validation {
    condition = length(var.admin_cidr_blocks) >= 1 && length(var.admin_cidr_blocks) <= 20 && alltrue([
      for cidr in var.admin_cidr_blocks : can(cidrhost(cidr, 0)) && !endswith(cidr, "/0")
    ])
    error_message = "admin_cidr_blocks: 1 to 20 valid IPv4 CIDRs, none of them /0 (that would publish MLflow without a login)."
  }
}

################################################################################
# Services
################################################################################

variable "image_tag" {
  description = "Image tag of the task definitions Terraform registers. The deploy workflow registers later revisions with the git SHA and moves the services to them; Terraform does not move them back."
  type        = string
  default     = "bootstrap"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag: a Docker tag (letters, digits, _ . -, at most 128 characters)."
  }
}

variable "container_insights" {
  description = "Whether to turn on CloudWatch Container Insights for the cluster (per-task metrics, billed as custom metrics)."
  type        = bool
  default     = false
  nullable    = false
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps container, database and flow logs, and S3 keeps Mage's run logs (a CloudWatch retention value such as 30, 90, 365; checked by the modules)."
  type        = number
  default     = 365
  nullable    = false
}

variable "api_cpu" {
  description = "CPU units of an API task (256 = 0.25 vCPU)."
  type        = number
  default     = 512
  nullable    = false
}

variable "api_memory" {
  description = "Memory of an API task in MiB (a Fargate combination with api_cpu)."
  type        = number
  default     = 1024
  nullable    = false
}

variable "api_min_tasks" {
  description = "Fewest API tasks (autoscaling never goes below)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.api_min_tasks >= 1 && floor(var.api_min_tasks) == var.api_min_tasks
    error_message = "api_min_tasks: a whole number, at least 1."
  }
}

variable "api_max_tasks" {
  description = "Most API tasks autoscaling may run."
  type        = number
  default     = 4
  nullable    = false

  validation {
    condition     = var.api_max_tasks >= var.api_min_tasks && floor(var.api_max_tasks) == var.api_max_tasks
    error_message = "api_max_tasks: a whole number, at least api_min_tasks."
  }
}

variable "api_cpu_target_percent" {
  description = "Average CPU utilization of the API tasks that autoscaling keeps."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.api_cpu_target_percent >= 10 && var.api_cpu_target_percent <= 90
    error_message = "api_cpu_target_percent: 10 to 90."
  }
}

variable "api_requests_per_target" {
  description = "Load balancer requests per API task per minute that autoscaling keeps (ALBRequestCountPerTarget)."
  type        = number
  default     = 600
  nullable    = false

  validation {
    condition     = var.api_requests_per_target >= 1
    error_message = "api_requests_per_target: at least 1."
  }
}

variable "mlflow_cpu" {
  description = "CPU units of a tracking server task."
  type        = number
  default     = 512
  nullable    = false
}

variable "mlflow_memory" {
  description = "Memory of a tracking server task in MiB (a Fargate combination with mlflow_cpu)."
  type        = number
  default     = 1024
  nullable    = false
}

variable "mlflow_max_tasks" {
  description = "Most tracking server tasks CPU autoscaling may run (each opens its own database connections)."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.mlflow_max_tasks >= 1 && var.mlflow_max_tasks <= 10 && floor(var.mlflow_max_tasks) == var.mlflow_max_tasks
    error_message = "mlflow_max_tasks: a whole number from 1 to 10."
  }
}

variable "mage_cpu" {
  description = "CPU units of the Mage task (it trains the models too)."
  type        = number
  default     = 1024
  nullable    = false
}

variable "mage_memory" {
  description = "Memory of the Mage task in MiB (a Fargate combination with mage_cpu)."
  type        = number
  default     = 4096
  nullable    = false
}

variable "mage_owner_email" {
  description = "E-mail of the Mage owner account created on the first start (its password is generated into the <prefix>/mage secret); null means admin@<domain_name>."
  type        = string
  default     = null

  validation {
    condition     = var.mage_owner_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.mage_owner_email))
    error_message = "mage_owner_email: an e-mail address."
  }
}

################################################################################
# Databases and buckets
################################################################################

variable "db_instance_class" {
  description = "Instance class of both RDS PostgreSQL instances, e.g. db.t4g.micro (checked by modules/rds_postgres)."
  type        = string
  default     = "db.t4g.micro"
  nullable    = false
}

variable "db_allocated_storage" {
  description = "Initial gp3 storage of each instance in GiB (storage autoscaling may grow it to 100)."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.db_allocated_storage >= 20 && var.db_allocated_storage < 100
    error_message = "db_allocated_storage: 20 to 99 GiB (autoscaling grows it up to 100)."
  }
}

variable "db_multi_az" {
  description = "Whether each instance keeps a standby in a second AZ (doubles the database cost)."
  type        = bool
  default     = false
  nullable    = false
}

variable "db_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery) of each instance."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days: 1 to 35."
  }
}

variable "db_password_rotation_schedule" {
  description = "When RDS rotates both master passwords (Secrets Manager schedule expression, UTC; rotation finishes within the hour). Keep restart_after_rotation_schedule after it."
  type        = string
  default     = "cron(0 3 1 * ? *)"
  nullable    = false

  validation {
    condition     = can(regex("^cron\\(.+\\)$", var.db_password_rotation_schedule))
    error_message = "db_password_rotation_schedule: a cron(...) expression, so the restart can follow it."
  }
}

variable "restart_after_rotation_schedule" {
  description = "When EventBridge Scheduler restarts the three services so they pick up the rotated passwords (cron, UTC); at least an hour after db_password_rotation_schedule."
  type        = string
  default     = "cron(30 4 1 * ? *)"
  nullable    = false

  validation {
    condition     = can(regex("^cron\\(.+\\)$", var.restart_after_rotation_schedule))
    error_message = "restart_after_rotation_schedule: a cron(...) expression."
  }
}

variable "deletion_protection" {
  description = "Whether AWS refuses to delete the databases and the load balancer. Set false and apply before `terraform destroy`."
  type        = bool
  default     = true
  nullable    = false
}

variable "force_destroy" {
  description = "Whether `terraform destroy` may delete buckets that still hold objects and ECR repositories that still hold images. Irreversible; keep false except to tear down."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Secrets
################################################################################

variable "openaq_api_key" {
  description = "OpenAQ v3 API key. If set (TF_VAR_openaq_api_key), Terraform writes it into the <prefix>/openaq-api-key secret (and so into the state); if empty, put the value into that secret yourself. Once set, keep setting it: an empty value on a later apply removes the version Terraform wrote."
  type        = string
  default     = ""
  sensitive   = true
  nullable    = false
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once, e.g. to re-create it under the same name)."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days: 0, or 7 to 30."
  }
}

################################################################################
# Alarms
################################################################################

variable "alarm_sns_topic_arn" {
  description = "SNS topic the alarms notify; null creates <prefix>-alarms (encrypted with the project key) to subscribe to."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn: an SNS topic ARN."
  }
}

variable "api_5xx_alarm_threshold" {
  description = "5xx answers in 5 minutes (from the API, and from the load balancer itself) that raise an alarm."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.api_5xx_alarm_threshold >= 1
    error_message = "api_5xx_alarm_threshold: at least 1."
  }
}

variable "db_free_storage_alarm_gib" {
  description = "Free storage in GiB below which a database raises an alarm."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.db_free_storage_alarm_gib > 0
    error_message = "db_free_storage_alarm_gib: more than 0."
  }
}

################################################################################
# Dask (optional, dask.tf)
################################################################################

variable "dask_workers" {
  description = "Dask worker tasks for training; 0 (the default) creates no Dask service and large training sets train on a LocalCluster inside the Mage task."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.dask_workers >= 0 && var.dask_workers <= 50 && floor(var.dask_workers) == var.dask_workers
    error_message = "dask_workers: a whole number from 0 to 50."
  }
}

variable "dask_worker_cpu" {
  description = "CPU units of each Dask worker task (1024 per thread it runs)."
  type        = number
  default     = 2048
  nullable    = false

  validation {
    condition     = contains([1024, 2048, 4096, 8192, 16384], var.dask_worker_cpu)
    error_message = "dask_worker_cpu: 1024, 2048, 4096, 8192 or 16384 (whole vCPUs, one thread each)."
  }
}

variable "dask_worker_memory" {
  description = "Memory of each Dask worker task in MiB (a Fargate combination with dask_worker_cpu); the worker's memory limit is 90 % of it."
  type        = number
  default     = 8192
  nullable    = false
}

variable "dask_scheduler_cpu" {
  description = "CPU units of the Dask scheduler task."
  type        = number
  default     = 512
  nullable    = false
}

variable "dask_scheduler_memory" {
  description = "Memory of the Dask scheduler task in MiB (a Fargate combination with dask_scheduler_cpu)."
  type        = number
  default     = 2048
  nullable    = false
}
