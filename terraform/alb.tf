################################################################################
# Load balancer
################################################################################

# HTTPS on 443 (HTTP on 80 redirects). Each service adds a host-name rule to the HTTPS listener
# (services.tf): api.<domain> from anywhere, mlflow.<domain> and mage.<domain> only from
# var.admin_cidr_blocks. Anything else gets a 404.
module "alb" {
  source = "./modules/alb"

  name                = local.prefix
  vpc_id              = module.network.vpc_id
  vpc_cidr_block      = module.network.vpc_cidr_block
  subnet_ids          = module.network.public_subnet_ids
  certificate_arn     = var.certificate_arn
  deletion_protection = var.deletion_protection
  target_ports        = [8000, local.mlflow_port, 6789]
}

################################################################################
# DNS (optional)
################################################################################

# With a Route 53 hosted zone for var.domain_name, the three host names become alias records of
# the load balancer; without one, create CNAMEs to alb_dns_name wherever the domain's DNS lives.
resource "aws_route53_record" "services" {
  for_each = var.route53_zone_id == null ? {} : local.host_names

  zone_id = var.route53_zone_id
  name    = each.value
  type    = "A"

  alias {
    name                   = module.alb.dns_name
    zone_id                = module.alb.zone_id
    evaluate_target_health = true
  }
}
