locals {
  # One ingress rule per (CIDR, port): 443 serves, 80 only redirects to 443.
  ingress_rules = var.create ? {
    for pair in setproduct(var.ingress_cidr_blocks, [80, 443]) :
    "${pair[0]}-${pair[1]}" => { cidr = pair[0], port = pair[1] }
  } : {}
}

################################################################################
# Security group
################################################################################

resource "aws_security_group" "this" {
  count = var.create ? 1 : 0

  name        = "${var.name}-alb"
  description = "Public load balancer: HTTPS in, HTTP in for the redirect, service ports out to the VPC"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-alb" })
}

resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each = local.ingress_rules
  #checkov:skip=CKV_AWS_260:Port 80 only answers with a redirect to HTTPS (listener "http" below); the API is public by design

  security_group_id = aws_security_group.this[0].id
  description       = each.value.port == 80 ? "HTTP (redirected to HTTPS)" : "HTTPS"
  cidr_ipv4         = each.value.cidr
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
}

resource "aws_vpc_security_group_egress_rule" "targets" {
  for_each = var.create ? toset([for port in var.target_ports : tostring(port)]) : toset([])

  security_group_id = aws_security_group.this[0].id
  description       = "To the ECS tasks on port ${each.value}"
  cidr_ipv4         = var.vpc_cidr_block
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)
}

################################################################################
# Load balancer
################################################################################

resource "aws_lb" "this" {
  count = var.create ? 1 : 0
  #checkov:skip=CKV2_AWS_28:No WAF by default (at least 5 USD a month plus rules); Mage and MLflow are reachable only from allowed CIDRs, the API validates every input. Attach a web ACL outside this module if needed
  #checkov:skip=CKV_AWS_91:Access logs are optional (access_logs_bucket); off by default because they need a bucket whose policy lets the regional ELB account write

  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.subnet_ids
  security_groups            = [aws_security_group.this[0].id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  # Mage's editor holds websockets open; the ALB closes idle ones after this many seconds.
  idle_timeout = var.idle_timeout

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == null ? [] : [var.access_logs_bucket]

    content {
      bucket  = access_logs.value
      prefix  = var.name
      enabled = true
    }
  }

  tags = var.tags
}

################################################################################
# Listeners
################################################################################

resource "aws_lb_listener" "http" {
  count = var.create ? 1 : 0

  load_balancer_arn = aws_lb.this[0].arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

# Services add host-header rules to this listener (modules/ecs_service); anything no rule
# matches, including MLflow and Mage from outside their allowed CIDRs, gets a plain 404.
resource "aws_lb_listener" "https" {
  count = var.create ? 1 : 0

  load_balancer_arn = aws_lb.this[0].arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "Not found"
      status_code  = "404"
    }
  }

  tags = var.tags
}
