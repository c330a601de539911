################################################################################
# VPC
################################################################################

output "vpc_id" {
  description = "ID of the VPC."
  value       = try(aws_vpc.this[0].id, null)
}

output "vpc_cidr_block" {
  description = "IPv4 CIDR of the VPC."
  value       = try(aws_vpc.this[0].cidr_block, null)
}

################################################################################
# Subnets
################################################################################

output "public_subnet_ids" {
  description = "IDs of the public subnets (load balancer, NAT gateways), one per AZ."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets (ECS tasks, RDS), one per AZ."
  value       = aws_subnet.private[*].id
}

################################################################################
# Egress
################################################################################

output "nat_public_ips" {
  description = "Public IPs the tasks reach the internet from (allow-list them at OpenAQ or elsewhere if needed)."
  value       = aws_eip.nat[*].public_ip
}

################################################################################
# VPC endpoints
################################################################################

output "s3_endpoint_id" {
  description = "ID of the S3 gateway endpoint."
  value       = try(aws_vpc_endpoint.s3[0].id, null)
}

output "interface_endpoint_ids" {
  description = "IDs of the interface endpoints, by service."
  value       = { for service, endpoint in aws_vpc_endpoint.interface : service => endpoint.id }
}

################################################################################
# Flow logs
################################################################################

output "flow_log_group_name" {
  description = "CloudWatch log group of the VPC flow log."
  value       = try(aws_cloudwatch_log_group.flow_logs[0].name, null)
}
