################################################################################
# Network
################################################################################

output "security_group_id" {
  description = "ID of the database's security group."
  value       = try(aws_security_group.this[0].id, null)
}

################################################################################
# Instance
################################################################################

output "identifier" {
  description = "RDS instance identifier (the DBInstanceIdentifier dimension of its metrics)."
  value       = try(aws_db_instance.this[0].identifier, null)
}

output "arn" {
  description = "ARN of the instance."
  value       = try(aws_db_instance.this[0].arn, null)
}

output "address" {
  description = "Host name of the instance (private: resolvable and reachable only inside the VPC)."
  value       = try(aws_db_instance.this[0].address, null)
}

output "port" {
  description = "Port of the instance."
  value       = try(aws_db_instance.this[0].port, null)
}

output "db_name" {
  description = "Name of the database RDS created."
  value       = try(aws_db_instance.this[0].db_name, null)
}

output "master_user_secret_arn" {
  description = "ARN of the RDS-managed Secrets Manager secret with the master credentials (JSON keys username and password)."
  value       = try(aws_db_instance.this[0].master_user_secret[0].secret_arn, null)
}
