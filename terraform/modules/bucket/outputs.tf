################################################################################
# Bucket
################################################################################

output "id" {
  description = "Name of the bucket."
  value       = try(aws_s3_bucket.this[0].id, null)
}

output "arn" {
  description = "ARN of the bucket (append /* for its objects in IAM policies)."
  value       = try(aws_s3_bucket.this[0].arn, null)
}

output "regional_domain_name" {
  description = "Region-specific domain name of the bucket."
  value       = try(aws_s3_bucket.this[0].bucket_regional_domain_name, null)
}
