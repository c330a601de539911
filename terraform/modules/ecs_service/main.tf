data "aws_region" "current" {}

locals {
  load_balanced = var.create && var.load_balancer != null

  # An ALB rule matches at most 5 values, one of them the host name, so a longer CIDR list is
  # split over several rules with consecutive priorities. An empty list means one open rule.
  source_cidr_chunks = !local.load_balanced ? [] : (
    length(var.load_balancer.source_cidrs) == 0 ? [[]] : chunklist(var.load_balancer.source_cidrs, 4)
  )

  # Each writable path gets its own task-scoped volume (Fargate ephemeral storage), so the root
  # filesystem can stay read-only.
  writable_volumes = { for path in var.writable_paths : trim(replace(path, "/", "-"), "-") => path }

  log_group_name = "/ecs/${var.name}"

  # Every container port by port-mapping name; Service Connect publishes one of them.
  container_ports           = merge(var.additional_ports, { (var.port_name) = var.container_port })
  service_connect_port_name = coalesce(try(var.service_connect.port_name, null), var.port_name)

  # One target-tracking policy per target given; the service scales out when either asks for it.
  scaling_policies = {
    for name, policy in {
      cpu = {
        metric         = "ECSServiceAverageCPUUtilization"
        target         = try(var.autoscaling.cpu_target_percent, null)
        resource_label = null
      }
      requests = {
        metric         = "ALBRequestCountPerTarget"
        target         = local.load_balanced ? try(var.autoscaling.requests_per_target, null) : null
        resource_label = try("${var.load_balancer.load_balancer_arn_suffix}/${aws_lb_target_group.this[0].arn_suffix}", null)
      }
    } : name => policy if var.create && policy.target != null
  }

  container_definition = {
    for key, value in {
      name      = var.name
      image     = var.image
      essential = true
      command   = var.command
      portMappings = concat(
        [{
          name          = var.port_name
          containerPort = var.container_port
          protocol      = "tcp"
          appProtocol   = "http"
        }],
        # Plain TCP (no appProtocol): e.g. a Dask scheduler's port beside its dashboard.
        [for name in sort(keys(var.additional_ports)) : {
          name          = name
          containerPort = var.additional_ports[name]
          protocol      = "tcp"
        }],
      )
      # Sorted, so the JSON (and the plan) does not change with map order.
      environment            = [for name in sort(keys(var.environment)) : { name = name, value = var.environment[name] }]
      secrets                = [for name in sort(keys(var.secrets)) : { name = name, valueFrom = var.secrets[name] }]
      readonlyRootFilesystem = var.readonly_root_filesystem
      mountPoints            = [for volume, path in local.writable_volumes : { sourceVolume = volume, containerPath = path, readOnly = false }]
      ulimits                = length(var.ulimits) > 0 ? var.ulimits : null
      healthCheck = var.health_check == null ? null : {
        command     = var.health_check.command
        interval    = var.health_check.interval
        timeout     = var.health_check.timeout
        retries     = var.health_check.retries
        startPeriod = var.health_check.start_period
      }
      stopTimeout = var.stop_timeout
      # An init process reaps the zombies of servers that spawn subprocesses (Mage does).
      linuxParameters = { initProcessEnabled = true }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = local.log_group_name
          awslogs-region        = data.aws_region.current.region
          awslogs-stream-prefix = var.name
        }
      }
    } : key => value if value != null
  }
}

################################################################################
# Security group
################################################################################

resource "aws_security_group" "this" {
  count = var.create ? 1 : 0

  name        = "${var.name}-task"
  description = "ECS service ${var.name}: port ${var.container_port} from the listed groups, listed egress only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-task" })
}

resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each = var.create ? var.ingress_security_group_ids : {}

  security_group_id            = aws_security_group.this[0].id
  description                  = "Port ${var.container_port} from ${each.key}"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
}

resource "aws_vpc_security_group_ingress_rule" "additional" {
  for_each = var.create ? {
    for pair in setproduct(keys(var.ingress_security_group_ids), keys(var.additional_ports)) :
    "${pair[0]}-${pair[1]}" => { group = pair[0], port = var.additional_ports[pair[1]] }
  } : {}

  security_group_id            = aws_security_group.this[0].id
  description                  = "Port ${each.value.port} from ${each.value.group}"
  referenced_security_group_id = var.ingress_security_group_ids[each.value.group]
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
}

resource "aws_vpc_security_group_egress_rule" "this" {
  for_each = var.create ? var.egress_rules : {}

  security_group_id = aws_security_group.this[0].id
  description       = each.value.description
  cidr_ipv4         = each.value.cidr_ipv4
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
}

################################################################################
# Logs
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  count = var.create ? 1 : 0

  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

################################################################################
# Task definition
################################################################################

resource "aws_ecs_task_definition" "this" {
  count = var.create ? 1 : 0
  #checkov:skip=CKV_AWS_336:readonlyRootFilesystem is the variable readonly_root_filesystem: the API and MLflow pass true (with writable_paths), Mage passes false because it writes into its project folder at run time

  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arn
  container_definitions    = jsonencode([local.container_definition])

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  dynamic "volume" {
    for_each = local.writable_volumes

    content {
      name = volume.key
    }
  }

  tags = var.tags
}

################################################################################
# Load balancing
################################################################################

resource "aws_lb_target_group" "this" {
  count = local.load_balanced ? 1 : 0
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; from there to the task the traffic stays inside the VPC, and the tasks serve plain HTTP

  name                 = substr(var.name, 0, 32)
  port                 = var.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path                = var.load_balancer.health_check_path
    matcher             = var.load_balancer.health_check_matcher
    interval            = 30
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "this" {
  count = length(local.source_cidr_chunks)

  listener_arn = var.load_balancer.listener_arn
  priority     = var.load_balancer.priority + count.index

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this[0].arn
  }

  condition {
    host_header {
      values = [var.load_balancer.host_header]
    }
  }

  dynamic "condition" {
    for_each = length(local.source_cidr_chunks[count.index]) > 0 ? [local.source_cidr_chunks[count.index]] : []

    content {
      source_ip {
        values = condition.value
      }
    }
  }

  tags = var.tags
}

################################################################################
# Service
################################################################################

resource "aws_ecs_service" "this" {
  count = var.create ? 1 : 0

  name             = var.name
  cluster          = var.cluster_arn
  task_definition  = aws_ecs_task_definition.this[0].arn
  desired_count    = var.desired_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  deployment_maximum_percent         = var.deployment_maximum_percent
  deployment_minimum_healthy_percent = var.deployment_minimum_healthy_percent
  health_check_grace_period_seconds  = local.load_balanced ? var.health_check_grace_period_seconds : null
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  wait_for_steady_state              = false

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.this[0].id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = local.load_balanced ? [1] : []

    content {
      target_group_arn = aws_lb_target_group.this[0].arn
      container_name   = var.name
      container_port   = var.container_port
    }
  }

  dynamic "service_connect_configuration" {
    for_each = var.service_connect == null ? [] : [var.service_connect]

    content {
      enabled   = true
      namespace = service_connect_configuration.value.namespace_arn

      # Only a service that others call publishes a name; the others are clients only.
      dynamic "service" {
        for_each = service_connect_configuration.value.dns_name == null ? [] : [service_connect_configuration.value.dns_name]

        content {
          port_name      = local.service_connect_port_name
          discovery_name = service.value

          client_alias {
            dns_name = service.value
            port     = local.container_ports[local.service_connect_port_name]
          }
        }
      }

      log_configuration {
        log_driver = "awslogs"
        options = {
          awslogs-group         = local.log_group_name
          awslogs-region        = data.aws_region.current.region
          awslogs-stream-prefix = "service-connect"
        }
      }
    }
  }

  tags = var.tags

  # The deploy workflow registers task definition revisions with new images and moves the
  # service to them; autoscaling moves desired_count. Terraform leaves both alone after creation.
  lifecycle {
    ignore_changes = [task_definition, desired_count]
  }

  depends_on = [aws_lb_listener_rule.this, aws_cloudwatch_log_group.this]
}

################################################################################
# Autoscaling
################################################################################

resource "aws_appautoscaling_target" "this" {
  count = var.create && var.autoscaling != null ? 1 : 0

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.this[0].name}"
  min_capacity       = var.autoscaling.min_capacity
  max_capacity       = var.autoscaling.max_capacity

  tags = var.tags
}

resource "aws_appautoscaling_policy" "this" {
  for_each = local.scaling_policies

  name               = "${var.name}-${each.key}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = each.value.target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = each.value.metric
      resource_label         = each.value.resource_label
    }
  }
}
