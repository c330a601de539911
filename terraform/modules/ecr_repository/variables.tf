variable "create" {
  description = "Whether to create the repository (false creates nothing)."
  type        = bool
  default     = true
  nullable    = false
}

variable "name" {
  description = "Repository name, e.g. hourcast-api."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", var.name)) && length(var.name) >= 2 && length(var.name) <= 256
    error_message = "name: 2-256 characters, lowercase letters and digits separated by ., _, - or /."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Repository
################################################################################

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the images; pulling roles need kms:Decrypt on it."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn: a KMS key ARN (arn:aws:kms:...)."
  }
}

variable "force_delete" {
  description = "Whether `terraform destroy` may delete the repository while it still holds images."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Lifecycle policy
################################################################################

variable "images_to_keep" {
  description = "How many of the newest images to keep (older ones are deleted); at least a few, so there is a previous image to roll back to."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.images_to_keep >= 3 && var.images_to_keep <= 10000 && floor(var.images_to_keep) == var.images_to_keep
    error_message = "images_to_keep: a whole number from 3 to 10000."
  }
}

variable "untagged_image_expiry_days" {
  description = "Days after which untagged images are deleted."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = var.untagged_image_expiry_days >= 1 && floor(var.untagged_image_expiry_days) == var.untagged_image_expiry_days
    error_message = "untagged_image_expiry_days: a whole number of days, at least 1."
  }
}
