variable "create" {
  description = "Whether to create the service (false creates nothing)."
  type        = bool
  default     = true
  nullable    = false
}

variable "name" {
  description = "Name of the service; also its task definition family, container, log group (/ecs/<name>) and target group."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name))
    error_message = "name: 2-32 lowercase letters, digits and hyphens, starting with a letter (target group names allow 32 characters)."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Security group
################################################################################

variable "vpc_id" {
  description = "ID of the VPC."
  type        = string
  nullable    = false
}

variable "ingress_security_group_ids" {
  description = "Security groups allowed to reach the container port, by a static name (e.g. { alb = sg-... }); the names key the rules, so the IDs may be unknown until apply."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "egress_rules" {
  description = "Outbound TCP the task may open, by name: destination CIDR and port (e.g. 443 to 0.0.0.0/0 for AWS APIs and image pulls)."
  type = map(object({
    cidr_ipv4   = string
    port        = number
    description = string
  }))
  nullable = false

  validation {
    condition     = alltrue([for rule in values(var.egress_rules) : can(cidrhost(rule.cidr_ipv4, 0)) && rule.port >= 1 && rule.port <= 65535])
    error_message = "egress_rules: each rule needs a valid IPv4 CIDR and a port from 1 to 65535."
  }
}

################################################################################
# Logs
################################################################################

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the container logs (a value CloudWatch accepts)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days: one of the CloudWatch Logs retention values (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the log group (its key policy must let CloudWatch Logs use it)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn: a KMS key ARN (arn:aws:kms:...)."
  }
}

################################################################################
# Task definition
################################################################################

variable "image" {
  description = "Container image the task definition Terraform registers points at (the deploy workflow registers later revisions with other tags)."
  type        = string
  nullable    = false
}

variable "cpu" {
  description = "Fargate task CPU units (256 = 0.25 vCPU)."
  type        = number
  nullable    = false

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu: one of the Fargate sizes 256, 512, 1024, 2048, 4096, 8192, 16384."
  }
}

variable "memory" {
  description = "Fargate task memory in MiB; must be a combination Fargate offers for the chosen cpu (e.g. 512-2048 for 256, 1024-4096 for 512, 2048-8192 for 1024)."
  type        = number
  nullable    = false

  validation {
    condition = (
      var.cpu == 256 ? contains([512, 1024, 2048], var.memory) :
      var.cpu == 512 ? var.memory >= 1024 && var.memory <= 4096 && var.memory % 1024 == 0 :
      var.cpu == 1024 ? var.memory >= 2048 && var.memory <= 8192 && var.memory % 1024 == 0 :
      var.cpu == 2048 ? var.memory >= 4096 && var.memory <= 16384 && var.memory % 1024 == 0 :
      var.cpu == 4096 ? var.memory >= 8192 && var.memory <= 30720 && var.memory % 1024 == 0 :
      var.cpu == 8192 ? var.memory >= 16384 && var.memory <= 61440 && var.memory % 4096 == 0 :
      var.memory >= 32768 && var.memory <= 122880 && var.memory % 8192 == 0
    )
    error_message = "memory: not a Fargate combination for this cpu (256: 512/1024/2048; 512: 1024-4096; 1024: 2048-8192; 2048: 4096-16384; 4096: 8192-30720, in 1024 steps; 8192: 16384-61440 in 4096 steps; 16384: 32768-122880 in 8192 steps)."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture the images are built for: X86_64 or ARM64 (Graviton, about 20 % cheaper; needs arm64 images)."
  type        = string
  default     = "X86_64"
  nullable    = false

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture: X86_64 or ARM64."
  }
}

variable "execution_role_arn" {
  description = "ARN of the role ECS uses to pull the image, write logs and read the secrets in `secrets`."
  type        = string
  nullable    = false
}

variable "task_role_arn" {
  description = "ARN of the role the container's own AWS calls run as."
  type        = string
  nullable    = false
}

variable "command" {
  description = "Command overriding the image's CMD; null keeps the image's."
  type        = list(string)
  default     = null
}

variable "port_name" {
  description = "Name of the container port mapping (Service Connect refers to it)."
  type        = string
  default     = "http"
  nullable    = false
}

variable "additional_ports" {
  description = "Further container ports by port-mapping name (plain TCP, e.g. a Dask scheduler's 8786 beside its dashboard): mapped in the container and open to ingress_security_group_ids like container_port. The load balancer and health checks use container_port."
  type        = map(number)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for port in values(var.additional_ports) : port >= 1 && port <= 65535 && floor(port) == port])
    error_message = "additional_ports: whole numbers from 1 to 65535."
  }
}

variable "container_port" {
  description = "Port the container listens on."
  type        = number
  nullable    = false

  validation {
    condition     = var.container_port >= 1 && var.container_port <= 65535 && floor(var.container_port) == var.container_port
    error_message = "container_port: a whole number from 1 to 65535."
  }
}

variable "environment" {
  description = "Plain environment variables of the container. Nothing secret: names that look like credentials are refused; pass those through `secrets`."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for name in keys(var.environment) : !can(regex("(?i)(PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY)", name))])
    error_message = "environment: a name containing PASSWORD, SECRET, TOKEN, API_KEY or PRIVATE_KEY belongs in secrets (valueFrom), not in plain environment."
  }

  validation {
    condition     = length(setintersection(keys(var.environment), keys(var.secrets))) == 0
    error_message = "environment: a variable is given both in environment and in secrets."
  }
}

variable "secrets" {
  description = "Secret environment variables: name => valueFrom, a Secrets Manager secret ARN, optionally with a JSON key (\"<arn>:password::\"), or an SSM parameter ARN. The execution role must be able to read each one."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for value_from in values(var.secrets) : can(regex("^arn:aws[a-z-]*:(secretsmanager|ssm):", value_from))])
    error_message = "secrets: each valueFrom must be a Secrets Manager secret ARN (optionally <arn>:<json-key>::) or an SSM parameter ARN."
  }
}

variable "readonly_root_filesystem" {
  description = "Whether the container's root filesystem is read-only (give writable_paths for the folders it writes)."
  type        = bool
  default     = true
  nullable    = false
}

variable "writable_paths" {
  description = "Absolute container paths that get an empty, task-scoped writable volume (e.g. [\"/tmp\"])."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for path in var.writable_paths : can(regex("^/[A-Za-z0-9._/-]+$", path)) && path != "/"])
    error_message = "writable_paths: absolute paths other than /."
  }
}

variable "ulimits" {
  description = "Container ulimits, e.g. [{ name = \"nofile\", softLimit = 16384, hardLimit = 32768 }]."
  type = list(object({
    name      = string
    softLimit = number
    hardLimit = number
  }))
  default  = []
  nullable = false
}

variable "health_check" {
  description = "Container health check run by ECS (the image's HEALTHCHECK is ignored on ECS); null for none."
  type = object({
    command      = list(string)
    interval     = optional(number, 30)
    timeout      = optional(number, 5)
    retries      = optional(number, 3)
    start_period = optional(number, 60)
  })
  default = null
}

variable "stop_timeout" {
  description = "Seconds between SIGTERM and SIGKILL when the task stops (Fargate allows up to 120)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120
    error_message = "stop_timeout: 2 to 120 seconds."
  }
}

################################################################################
# Load balancing
################################################################################

variable "load_balancer" {
  description = "Routing from the ALB's HTTPS listener by host name, optionally only from source_cidrs (empty: from anywhere); null for a service without a load balancer."
  type = object({
    listener_arn             = string
    load_balancer_arn_suffix = string
    host_header              = string
    priority                 = number
    source_cidrs             = optional(list(string), [])
    health_check_path        = optional(string, "/health")
    health_check_matcher     = optional(string, "200")
  })
  default = null

  validation {
    condition     = var.load_balancer == null || try(var.load_balancer.priority >= 1 && var.load_balancer.priority + ceil(length(var.load_balancer.source_cidrs) / 4) <= 50000, false)
    error_message = "load_balancer.priority: from 1, leaving room for one rule per 4 source CIDRs below 50000."
  }

  validation {
    condition     = var.load_balancer == null || try(alltrue([for cidr in var.load_balancer.source_cidrs : can(cidrhost(cidr, 0))]), false)
    error_message = "load_balancer.source_cidrs: valid CIDRs."
  }
}

variable "health_check_grace_period_seconds" {
  description = "Seconds after a task starts during which failing load balancer health checks do not stop it."
  type        = number
  default     = 120
  nullable    = false

  validation {
    condition     = var.health_check_grace_period_seconds >= 0 && var.health_check_grace_period_seconds <= 2147483647
    error_message = "health_check_grace_period_seconds: 0 or more."
  }
}

################################################################################
# Service
################################################################################

variable "cluster_arn" {
  description = "ARN of the ECS cluster."
  type        = string
  nullable    = false
}

variable "cluster_name" {
  description = "Name of the ECS cluster (autoscaling addresses the service as service/<cluster>/<service>)."
  type        = string
  nullable    = false
}

variable "subnet_ids" {
  description = "Private subnets the tasks run in (no public IPs)."
  type        = list(string)
  nullable    = false
}

variable "desired_count" {
  description = "Number of tasks when the service is created (autoscaling moves it afterwards)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.desired_count >= 0 && floor(var.desired_count) == var.desired_count
    error_message = "desired_count: a whole number, 0 or more."
  }
}

variable "deployment_maximum_percent" {
  description = "Upper limit of running tasks during a deployment, in percent of desired_count (100 with minimum 0 means stop the old task before starting the new one)."
  type        = number
  default     = 200
  nullable    = false

  validation {
    condition     = var.deployment_maximum_percent >= 100 && var.deployment_maximum_percent <= 200
    error_message = "deployment_maximum_percent: 100 to 200."
  }
}

variable "deployment_minimum_healthy_percent" {
  description = "Lower limit of healthy tasks during a deployment, in percent of desired_count."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = var.deployment_minimum_healthy_percent >= 0 && var.deployment_minimum_healthy_percent <= 100
    error_message = "deployment_minimum_healthy_percent: 0 to 100."
  }
}

variable "service_connect" {
  description = "ECS Service Connect: the namespace ARN, and dns_name to publish this service under (reachable as http://<dns_name>:<container_port>, or at the port of port_name, one of additional_ports); without dns_name the service is a client only. null turns Service Connect off."
  type = object({
    namespace_arn = string
    dns_name      = optional(string)
    port_name     = optional(string)
  })
  default = null
}

################################################################################
# Autoscaling
################################################################################

variable "autoscaling" {
  description = "Target-tracking autoscaling between min_capacity and max_capacity on average CPU (cpu_target_percent) and/or ALB requests per task (requests_per_target, needs load_balancer); null for a fixed number of tasks."
  type = object({
    min_capacity        = number
    max_capacity        = number
    cpu_target_percent  = optional(number)
    requests_per_target = optional(number)
  })
  default = null

  validation {
    condition = var.autoscaling == null || try(
      var.autoscaling.min_capacity >= 1 && var.autoscaling.max_capacity >= var.autoscaling.min_capacity &&
      (var.autoscaling.cpu_target_percent != null || var.autoscaling.requests_per_target != null) &&
      (var.autoscaling.cpu_target_percent == null || (var.autoscaling.cpu_target_percent > 0 && var.autoscaling.cpu_target_percent <= 100)) &&
      (var.autoscaling.requests_per_target == null || var.autoscaling.requests_per_target > 0),
      false
    )
    error_message = "autoscaling: 1 <= min_capacity <= max_capacity, and at least one target: cpu_target_percent (0-100] or requests_per_target (> 0)."
  }

  validation {
    condition     = try(var.autoscaling.requests_per_target, null) == null || var.load_balancer != null
    error_message = "autoscaling.requests_per_target needs load_balancer (it scales on the target group's request count)."
  }
}
