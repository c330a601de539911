variable "create" {
  description = "Whether to create the load balancer (false creates nothing)."
  type        = bool
  default     = true
  nullable    = false
}

variable "name" {
  description = "Name of the load balancer and prefix of its security group (at most 32 characters)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-]{0,30}[a-zA-Z0-9]$", var.name)) && !startswith(var.name, "internal-")
    error_message = "name: 2-32 letters, digits and hyphens, not starting or ending with a hyphen or starting with internal-."
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

variable "vpc_cidr_block" {
  description = "IPv4 CIDR of the VPC: the load balancer may only send to addresses in it."
  type        = string
  nullable    = false

  validation {
    condition     = can(cidrhost(var.vpc_cidr_block, 0))
    error_message = "vpc_cidr_block: a valid IPv4 CIDR."
  }
}

variable "ingress_cidr_blocks" {
  description = "IPv4 CIDRs that may reach ports 80 and 443 at all (per-service restrictions are listener rules)."
  type        = list(string)
  default     = ["0.0.0.0/0"]
  nullable    = false

  validation {
    condition     = length(var.ingress_cidr_blocks) > 0 && alltrue([for cidr in var.ingress_cidr_blocks : can(cidrhost(cidr, 0))])
    error_message = "ingress_cidr_blocks: at least one valid IPv4 CIDR."
  }
}

variable "target_ports" {
  description = "Container ports the load balancer forwards to."
  type        = list(number)
  nullable    = false

  validation {
    condition     = alltrue([for port in var.target_ports : port >= 1 && port <= 65535 && floor(port) == port])
    error_message = "target_ports: whole numbers from 1 to 65535."
  }
}

################################################################################
# Load balancer
################################################################################

variable "subnet_ids" {
  description = "Public subnets, in at least two AZs."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids: an application load balancer needs subnets in at least two AZs."
  }
}

variable "deletion_protection" {
  description = "Whether AWS refuses to delete the load balancer (turn off before `terraform destroy`)."
  type        = bool
  default     = true
  nullable    = false
}

variable "idle_timeout" {
  description = "Seconds an idle connection (e.g. the Mage editor's websocket) stays open."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.idle_timeout >= 1 && var.idle_timeout <= 4000
    error_message = "idle_timeout: 1 to 4000 seconds."
  }
}

variable "access_logs_bucket" {
  description = "Name of an S3 bucket (SSE-S3, policy letting the regional ELB account write) for access logs; null turns them off."
  type        = string
  default     = null
}

################################################################################
# Listeners
################################################################################

variable "certificate_arn" {
  description = "ARN of the ACM certificate for the HTTPS listener (it must cover every host name the services use)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/", var.certificate_arn))
    error_message = "certificate_arn: an ACM certificate ARN, arn:aws:acm:<region>:<account>:certificate/<id>."
  }
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  nullable    = false

  validation {
    condition     = startswith(var.ssl_policy, "ELBSecurityPolicy-TLS13-") || startswith(var.ssl_policy, "ELBSecurityPolicy-FS-1-2-")
    error_message = "ssl_policy: a TLS 1.2+ policy (ELBSecurityPolicy-TLS13-* or ELBSecurityPolicy-FS-1-2-*)."
  }
}
