################################################################################
# Security group
################################################################################

output "security_group_id" {
  description = "ID of the load balancer's security group (allow it into the tasks' security groups)."
  value       = try(aws_security_group.this[0].id, null)
}

################################################################################
# Load balancer
################################################################################

output "arn" {
  description = "ARN of the load balancer."
  value       = try(aws_lb.this[0].arn, null)
}

output "arn_suffix" {
  description = "ARN suffix of the load balancer, for CloudWatch metrics and request-count scaling."
  value       = try(aws_lb.this[0].arn_suffix, null)
}

output "dns_name" {
  description = "DNS name of the load balancer (point the service host names at it)."
  value       = try(aws_lb.this[0].dns_name, null)
}

output "zone_id" {
  description = "Route 53 hosted zone ID of the load balancer, for alias records."
  value       = try(aws_lb.this[0].zone_id, null)
}

################################################################################
# Listeners
################################################################################

output "https_listener_arn" {
  description = "ARN of the HTTPS listener the services add their rules to."
  value       = try(aws_lb_listener.https[0].arn, null)
}

output "http_listener_arn" {
  description = "ARN of the HTTP listener (redirect to HTTPS)."
  value       = try(aws_lb_listener.http[0].arn, null)
}
