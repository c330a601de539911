################################################################################
# Network
################################################################################

module "network" {
  source = "./modules/network"

  name                        = local.prefix
  cidr_block                  = var.vpc_cidr
  availability_zones          = local.availability_zones
  nat_gateway                 = var.nat_gateway
  interface_endpoint_services = var.interface_endpoint_services
  flow_log_retention_days     = var.log_retention_days
  kms_key_arn                 = aws_kms_key.this.arn
}
