################################################################################
# Repository
################################################################################

output "name" {
  description = "Name of the repository."
  value       = try(aws_ecr_repository.this[0].name, null)
}

output "arn" {
  description = "ARN of the repository (for IAM pull and push permissions)."
  value       = try(aws_ecr_repository.this[0].arn, null)
}

output "repository_url" {
  description = "URL to tag and push images with, <account>.dkr.ecr.<region>.amazonaws.com/<name>."
  value       = try(aws_ecr_repository.this[0].repository_url, null)
}
