################################################################################
# Dask (optional): a scheduler and var.dask_workers workers that the Mage task trains on
################################################################################

# With dask_workers = 0 (the default) nothing here exists: training sets of at least
# HOURCAST_DASK_MIN_ROWS rows train on a LocalCluster inside the Mage task
# (hourcast/training/dask_training.py). With workers, the Mage task gets
# HOURCAST_DASK_SCHEDULER (services.tf) and the same code runs here. Both services run the Mage
# image, which holds hourcast, dask, distributed and xgboost at the versions Mage trains with.
#
# Traffic: Mage and the workers reach the scheduler through Service Connect
# (tcp://dask-scheduler:8786); the dashboard (8787) is behind the load balancer like MLflow,
# from admin_cidr_blocks only. Dask then connects clients, scheduler and workers directly at
# their task addresses, and XGBoost's collective (a tracker on the scheduler, a ring between the
# workers) listens on ephemeral ports, so the Dask tasks accept each other (and Mage) on the
# unprivileged ports; nothing outside these three groups can reach them.

locals {
  dask_enabled                        = var.dask_workers > 0
  dask_scheduler_service_connect_name = "dask-scheduler"
  dask_scheduler_port                 = 8786
  dask_dashboard_port                 = 8787
  dask_worker_port                    = 8788
  dask_nanny_port                     = 8789
  dask_scheduler_address              = "tcp://${local.dask_scheduler_service_connect_name}:${local.dask_scheduler_port}"
  dask_host_name                      = "dask.${var.domain_name}"
  dask_image                          = "${module.ecr["mage"].repository_url}:${var.image_tag}"

  dask_egress = local.dask_enabled ? {
    dask = { cidr_ipv4 = module.network.vpc_cidr_block, port = local.dask_scheduler_port, description = "Dask scheduler through Service Connect" }
  } : {}

  # Who may open the unprivileged ports of the other Dask tasks: group name => (source, target).
  dask_peer_rules = local.dask_enabled ? {
    scheduler-to-worker = { source = module.dask_scheduler.security_group_id, target = module.dask_worker.security_group_id }
    worker-to-worker    = { source = module.dask_worker.security_group_id, target = module.dask_worker.security_group_id }
    worker-to-scheduler = { source = module.dask_worker.security_group_id, target = module.dask_scheduler.security_group_id }
    mage-to-worker      = { source = module.mage.security_group_id, target = module.dask_worker.security_group_id }
    mage-to-scheduler   = { source = module.mage.security_group_id, target = module.dask_scheduler.security_group_id }
  } : {}
}

module "dask_scheduler" {
  source = "./modules/ecs_service"

  create             = local.dask_enabled
  name               = local.services.dask_scheduler
  cluster_arn        = aws_ecs_cluster.this.arn
  cluster_name       = aws_ecs_cluster.this.name
  image              = local.dask_image
  command            = ["dask", "scheduler", "--port", tostring(local.dask_scheduler_port), "--dashboard-address", ":${local.dask_dashboard_port}"]
  cpu                = var.dask_scheduler_cpu
  memory             = var.dask_scheduler_memory
  port_name          = "dashboard"
  container_port     = local.dask_dashboard_port
  additional_ports   = { comm = local.dask_scheduler_port }
  execution_role_arn = aws_iam_role.execution.arn
  task_role_arn      = aws_iam_role.task_dask.arn
  kms_key_arn        = aws_kms_key.this.arn
  log_retention_days = var.log_retention_days
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.private_subnet_ids

  readonly_root_filesystem = true
  writable_paths           = ["/tmp"]

  health_check = {
    command = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8787/health', timeout=4)"]
  }

  ingress_security_group_ids = {
    alb     = module.alb.security_group_id
    mage    = module.mage.security_group_id
    workers = module.dask_worker.security_group_id
  }
  egress_rules = local.https_egress

  load_balancer = {
    listener_arn             = module.alb.https_listener_arn
    load_balancer_arn_suffix = module.alb.arn_suffix
    host_header              = local.dask_host_name
    priority                 = 400
    source_cidrs             = var.admin_cidr_blocks # the dashboard has no login
    health_check_path        = "/health"
  }

  service_connect = {
    namespace_arn = aws_service_discovery_http_namespace.this.arn
    dns_name      = local.dask_scheduler_service_connect_name
    port_name     = "comm"
  }

  # One scheduler: a second would be a second cluster.
  desired_count                      = 1
  deployment_maximum_percent         = 100
  deployment_minimum_healthy_percent = 0
  autoscaling                        = null
}

module "dask_worker" {
  source = "./modules/ecs_service"

  create       = local.dask_enabled
  name         = local.services.dask_worker
  cluster_arn  = aws_ecs_cluster.this.arn
  cluster_name = aws_ecs_cluster.this.name
  image        = local.dask_image
  command = [
    "dask", "worker", local.dask_scheduler_address,
    "--worker-port", tostring(local.dask_worker_port),
    "--nanny-port", tostring(local.dask_nanny_port),
    "--nworkers", "1",
    "--nthreads", tostring(floor(var.dask_worker_cpu / 1024)),
    # Leave a tenth of the task's memory to the nanny and the OS.
    "--memory-limit", "${floor(var.dask_worker_memory * 0.9)}MiB",
    "--no-dashboard",
  ]
  cpu                = var.dask_worker_cpu
  memory             = var.dask_worker_memory
  port_name          = "worker"
  container_port     = local.dask_worker_port
  execution_role_arn = aws_iam_role.execution.arn
  task_role_arn      = aws_iam_role.task_dask.arn
  kms_key_arn        = aws_kms_key.this.arn
  log_retention_days = var.log_retention_days
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.private_subnet_ids

  readonly_root_filesystem = true
  writable_paths           = ["/tmp"] # spill to disk under memory pressure

  ingress_security_group_ids = {} # dask_peer_rules below
  egress_rules               = merge(local.https_egress, local.dask_egress)

  # A client only: it dials the scheduler's Service Connect name.
  service_connect = {
    namespace_arn = aws_service_discovery_http_namespace.this.arn
  }

  desired_count = var.dask_workers
  autoscaling   = null
}

resource "aws_vpc_security_group_ingress_rule" "dask_peers" {
  #checkov:skip=CKV_AWS_25:The source is a security group of the Dask tasks or Mage, never a CIDR; the range holds 3389 only because XGBoost's collective listens on ephemeral ports
  for_each = local.dask_peer_rules

  security_group_id            = each.value.target
  referenced_security_group_id = each.value.source
  description                  = "Dask and XGBoost collective: ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = 1024
  to_port                      = 65535
}

resource "aws_vpc_security_group_egress_rule" "dask_peers" {
  for_each = local.dask_peer_rules

  security_group_id            = each.value.source
  referenced_security_group_id = each.value.target
  description                  = "Dask and XGBoost collective: ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = 1024
  to_port                      = 65535
}

resource "aws_iam_role" "task_dask" {
  name               = "${local.prefix}-dask-task"
  description        = "Task role of the Dask scheduler and workers: no AWS access (the data comes from the Mage task)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}
