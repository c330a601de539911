variable "create" {
  description = "Whether to create the bucket (false creates nothing)."
  type        = bool
  default     = true
  nullable    = false
}

variable "name" {
  description = "Globally unique bucket name."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.name)) && !can(regex("\\.\\.|^\\d+\\.\\d+\\.\\d+\\.\\d+$", var.name))
    error_message = "name: 3-63 characters of lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit, not an IP address."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Bucket
################################################################################

variable "kms_key_arn" {
  description = "ARN of the KMS key for default SSE-KMS encryption; roles that read or write objects also need kms:Decrypt / kms:GenerateDataKey on it."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn: a KMS key ARN (arn:aws:kms:...)."
  }
}

variable "force_destroy" {
  description = "Whether `terraform destroy` may delete the bucket while it still holds objects (and versions). Keep false in production."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Lifecycle
################################################################################

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten or deleted object version is kept before S3 deletes it."
  type        = number
  default     = 90
  nullable    = false

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days: a whole number of days, at least 1."
  }
}

variable "lifecycle_rules" {
  description = "Extra lifecycle rules by key prefix: move objects to STANDARD_IA after `infrequent_access_after_days` (at least 30) and/or delete them after `expire_after_days`."
  type = list(object({
    id                           = string
    prefix                       = string
    infrequent_access_after_days = optional(number)
    expire_after_days            = optional(number)
  }))
  default  = []
  nullable = false

  validation {
    condition = alltrue([
      for rule in var.lifecycle_rules :
      (rule.infrequent_access_after_days == null || try(rule.infrequent_access_after_days >= 30, false)) &&
      (rule.expire_after_days == null || try(rule.expire_after_days >= 1, false)) &&
      (rule.infrequent_access_after_days != null || rule.expire_after_days != null)
    ])
    error_message = "lifecycle_rules: each rule needs infrequent_access_after_days (>= 30, an S3 minimum) and/or expire_after_days (>= 1)."
  }
}
