variable "create" {
  description = "Whether to create the network (false creates nothing)."
  type        = bool
  default     = true
  nullable    = false
}

variable "name" {
  description = "Name prefix of every resource, and the VPC's Name tag."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name: 2-31 characters, lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# VPC
################################################################################

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC; /16 to /20, split into one public and one private /(n+4) subnet per AZ."
  type        = string
  default     = "10.40.0.0/16"
  nullable    = false

  validation {
    condition = (
      can(cidrhost(var.cidr_block, 0)) &&
      try(tonumber(split("/", var.cidr_block)[1]) >= 16 && tonumber(split("/", var.cidr_block)[1]) <= 20, false)
    )
    error_message = "cidr_block: a valid IPv4 CIDR with a prefix length from /16 to /20."
  }
}

variable "availability_zones" {
  description = "Availability zones to spread the subnets over (2 to 4), e.g. [\"us-east-1a\", \"us-east-1b\"]."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 4 && length(distinct(var.availability_zones)) == length(var.availability_zones)
    error_message = "availability_zones: 2 to 4 distinct zones (the load balancer and RDS subnet groups need at least 2)."
  }
}

################################################################################
# Egress
################################################################################

variable "nat_gateway" {
  description = "NAT gateways for the private subnets: \"single\" (one, cheapest), \"one_per_az\" (survives an AZ outage) or \"none\" (no internet from the tasks: then ECR, Secrets Manager and CloudWatch Logs need interface endpoints, and OpenAQ cannot be reached)."
  type        = string
  default     = "single"
  nullable    = false

  validation {
    condition     = contains(["single", "one_per_az", "none"], var.nat_gateway)
    error_message = "nat_gateway: one of single, one_per_az, none."
  }
}

variable "interface_endpoint_services" {
  description = "AWS services to reach through interface VPC endpoints (about 7.30 USD a month per service and AZ), e.g. [\"ecr.api\", \"ecr.dkr\", \"secretsmanager\", \"logs\"]. The S3 gateway endpoint is always created (it is free)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition = alltrue([
      for service in var.interface_endpoint_services :
      contains(["ecr.api", "ecr.dkr", "secretsmanager", "logs", "sts", "kms", "monitoring", "ssmmessages"], service)
    ])
    error_message = "interface_endpoint_services: each one of ecr.api, ecr.dkr, secretsmanager, logs, sts, kms, monitoring, ssmmessages."
  }

  validation {
    condition     = var.nat_gateway != "none" || length(setsubtract(["ecr.api", "ecr.dkr", "secretsmanager", "logs"], var.interface_endpoint_services)) == 0
    error_message = "interface_endpoint_services: with nat_gateway = \"none\" the tasks can only pull images, read secrets and write logs through ecr.api, ecr.dkr, secretsmanager and logs endpoints; list all four."
  }
}

################################################################################
# Flow logs
################################################################################

variable "flow_log_traffic_type" {
  description = "Which traffic the VPC flow log records: REJECT (cheapest, what a security review needs), ACCEPT or ALL."
  type        = string
  default     = "REJECT"
  nullable    = false

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_log_traffic_type)
    error_message = "flow_log_traffic_type: one of ACCEPT, REJECT, ALL."
  }
}

variable "flow_log_retention_days" {
  description = "Days CloudWatch Logs keeps the flow log (a value CloudWatch accepts, e.g. 30, 90, 365)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days: one of the CloudWatch Logs retention values (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the flow log group (its key policy must let CloudWatch Logs use it); null uses CloudWatch's own encryption."
  type        = string
  default     = null
}
