locals {
  # What every task may open: HTTPS anywhere (AWS APIs, image layers, OpenAQ) through the NAT
  # gateway or the endpoints, PostgreSQL inside the VPC.
  https_egress = {
    https = { cidr_ipv4 = "0.0.0.0/0", port = 443, description = "HTTPS: AWS APIs, ECR, OpenAQ" }
  }
  postgres_egress = {
    postgres = { cidr_ipv4 = module.network.vpc_cidr_block, port = 5432, description = "PostgreSQL (RDS) in the VPC" }
  }
  mlflow_egress = {
    mlflow = { cidr_ipv4 = module.network.vpc_cidr_block, port = local.mlflow_port, description = "MLflow tracking server through Service Connect" }
  }
  mage_egress = {
    mage = { cidr_ipv4 = module.network.vpc_cidr_block, port = local.mage_port, description = "Mage API triggers through Service Connect" }
  }
}

################################################################################
# MLflow tracking server
################################################################################

module "mlflow" {
  source = "./modules/ecs_service"

  name               = local.services.mlflow
  cluster_arn        = aws_ecs_cluster.this.arn
  cluster_name       = aws_ecs_cluster.this.name
  image              = "${module.ecr["mlflow"].repository_url}:${var.image_tag}"
  cpu                = var.mlflow_cpu
  memory             = var.mlflow_memory
  container_port     = local.mlflow_port
  execution_role_arn = aws_iam_role.execution.arn
  task_role_arn      = aws_iam_role.task_mlflow.arn
  kms_key_arn        = aws_kms_key.this.arn
  log_retention_days = var.log_retention_days
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.private_subnet_ids

  # The entrypoint (mlflow_server/entrypoint.sh) assembles the backend store URI from these.
  environment = {
    MLFLOW_DB_HOST               = module.mlflow_db.address
    MLFLOW_DB_PORT               = tostring(module.mlflow_db.port)
    MLFLOW_DB_NAME               = module.mlflow_db.db_name
    MLFLOW_ARTIFACTS_DESTINATION = "s3://${module.artifacts_bucket.id}/mlartifacts"
    # Exactly the Host headers that reach it: the Service Connect name (the clients send it with
    # the port) and the public host name behind the load balancer.
    MLFLOW_SERVER_ALLOWED_HOSTS = join(",", [
      local.mlflow_service_connect_name,
      "${local.mlflow_service_connect_name}:${local.mlflow_port}",
      local.host_names.mlflow,
    ])
    MLFLOW_WORKERS     = "2"
    AWS_REGION         = var.aws_region
    AWS_DEFAULT_REGION = var.aws_region
  }

  secrets = {
    MLFLOW_DB_USER     = "${module.mlflow_db.master_user_secret_arn}:username::"
    MLFLOW_DB_PASSWORD = "${module.mlflow_db.master_user_secret_arn}:password::"
  }

  readonly_root_filesystem = true
  writable_paths           = ["/tmp"] # artifact uploads are spooled here before they go to S3

  health_check = {
    command = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
  }

  ingress_security_group_ids = {
    alb  = module.alb.security_group_id
    api  = module.api.security_group_id
    mage = module.mage.security_group_id
  }
  egress_rules = merge(local.https_egress, local.postgres_egress)

  load_balancer = {
    listener_arn             = module.alb.https_listener_arn
    load_balancer_arn_suffix = module.alb.arn_suffix
    host_header              = local.host_names.mlflow
    priority                 = 200
    source_cidrs             = var.admin_cidr_blocks # the MLflow UI and API have no login
    health_check_path        = "/health"
  }

  service_connect = {
    namespace_arn = aws_service_discovery_http_namespace.this.arn
    dns_name      = local.mlflow_service_connect_name
  }

  desired_count = 1
  autoscaling = {
    min_capacity       = 1
    max_capacity       = var.mlflow_max_tasks
    cpu_target_percent = 70
  }
}

################################################################################
# Inference API
################################################################################

module "api" {
  source = "./modules/ecs_service"

  name               = local.services.api
  cluster_arn        = aws_ecs_cluster.this.arn
  cluster_name       = aws_ecs_cluster.this.name
  image              = "${module.ecr["api"].repository_url}:${var.image_tag}"
  cpu                = var.api_cpu
  memory             = var.api_memory
  container_port     = 8000
  execution_role_arn = aws_iam_role.execution.arn
  task_role_arn      = aws_iam_role.task_api.arn
  kms_key_arn        = aws_kms_key.this.arn
  log_retention_days = var.log_retention_days
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.private_subnet_ids

  environment = {
    HOURCAST_ENV                 = "production"
    HOURCAST_HOME                = "/tmp/hourcast"
    HOURCAST_DB_HOST             = module.app_db.address
    HOURCAST_DB_PORT             = tostring(module.app_db.port)
    HOURCAST_DB_NAME             = module.app_db.db_name
    HOURCAST_MLFLOW_TRACKING_URI = local.mlflow_internal_url
    HOURCAST_AWS_REGION          = var.aws_region
    AWS_REGION                   = var.aws_region
    AWS_DEFAULT_REGION           = var.aws_region

    # POST /v1/admin/retrain starts the pipeline train through Mage's API triggers.
    HOURCAST_MAGE_URL              = local.mage_internal_url
    HOURCAST_MAGE_DB_NAME          = local.mage_db_name
    HOURCAST_MAGE_RETRAIN_TRIGGERS = local.mage_retrain_triggers
  }

  secrets = {
    HOURCAST_DB_USER            = "${module.app_db.master_user_secret_arn}:username::"
    HOURCAST_DB_PASSWORD        = "${module.app_db.master_user_secret_arn}:password::"
    HOURCAST_JWT_SECRET_KEY     = aws_secretsmanager_secret.api_jwt_signing_key.arn
    HOURCAST_MAGE_TRIGGER_TOKEN = aws_secretsmanager_secret.mage_trigger_token.arn
  }

  readonly_root_filesystem = true
  writable_paths           = ["/tmp"] # MLflow downloads model files to a temporary folder

  health_check = {
    command = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
  }

  ingress_security_group_ids = {
    alb = module.alb.security_group_id
  }
  egress_rules = merge(local.https_egress, local.postgres_egress, local.mlflow_egress, local.mage_egress)

  load_balancer = {
    listener_arn             = module.alb.https_listener_arn
    load_balancer_arn_suffix = module.alb.arn_suffix
    host_header              = local.host_names.api
    priority                 = 100
    health_check_path        = "/health"
  }

  service_connect = {
    namespace_arn = aws_service_discovery_http_namespace.this.arn
  }

  desired_count = var.api_min_tasks
  autoscaling = {
    min_capacity        = var.api_min_tasks
    max_capacity        = var.api_max_tasks
    cpu_target_percent  = var.api_cpu_target_percent
    requests_per_target = var.api_requests_per_target
  }
}

################################################################################
# Mage
################################################################################

# Exactly one task and no autoscaling: the task runs the scheduler, and two schedulers would
# start every triggered run twice. Deployments stop the old task before starting the new one.
module "mage" {
  source = "./modules/ecs_service"

  name               = local.services.mage
  cluster_arn        = aws_ecs_cluster.this.arn
  cluster_name       = aws_ecs_cluster.this.name
  image              = "${module.ecr["mage"].repository_url}:${var.image_tag}"
  cpu                = var.mage_cpu
  memory             = var.mage_memory
  container_port     = local.mage_port
  execution_role_arn = aws_iam_role.execution.arn
  task_role_arn      = aws_iam_role.task_mage.arn
  kms_key_arn        = aws_kms_key.this.arn
  log_retention_days = var.log_retention_days
  vpc_id             = module.network.vpc_id
  subnet_ids         = module.network.private_subnet_ids

  # orchestration/entrypoint.sh builds MAGE_DATABASE_CONNECTION_URL from the HOURCAST_DB_* parts
  # and MAGE_DB_NAME; orchestration/metadata.yaml reads the MAGE_REMOTE_VARIABLES_DIR and
  # MAGE_LOGS_S3_* variables, so no block output or run log stays on the task's disk.
  environment = {
    ENV                          = "production" # Mage's own: triggers with `envs: [prod]` run
    HOURCAST_ENV                 = "production"
    HOURCAST_DB_HOST             = module.app_db.address
    HOURCAST_DB_PORT             = tostring(module.app_db.port)
    HOURCAST_DB_NAME             = module.app_db.db_name
    MAGE_DB_NAME                 = local.mage_db_name
    HOURCAST_MLFLOW_TRACKING_URI = local.mlflow_internal_url
    HOURCAST_TRAFFIC_SOURCE      = "s3://${module.traffic_bucket.id}/metro/traffic"
    MAGE_REMOTE_VARIABLES_DIR    = "s3://${module.traffic_bucket.id}/mage/variables"
    MAGE_LOGS_S3_BUCKET          = module.traffic_bucket.id
    MAGE_LOGS_S3_PREFIX          = "mage/logs"
    REQUIRE_USER_AUTHENTICATION  = "1"
    DEFAULT_OWNER_EMAIL          = local.mage_owner_email
    DEFAULT_OWNER_USERNAME       = "admin"
    MAGE_PUBLIC_HOST             = "https://${local.host_names.mage}"
    HOURCAST_AWS_REGION          = var.aws_region
    AWS_REGION                   = var.aws_region
    AWS_DEFAULT_REGION           = var.aws_region

    # The pipeline monitor starts retraining through Mage's own API triggers.
    HOURCAST_MAGE_URL              = "http://127.0.0.1:${local.mage_port}"
    HOURCAST_MAGE_DB_NAME          = local.mage_db_name
    HOURCAST_MAGE_RETRAIN_TRIGGERS = local.mage_retrain_triggers

    # Training on Dask (dask.tf): the scheduler through Service Connect; empty = a LocalCluster
    # inside this task (hourcast.training.dask_training treats an empty address as unset).
    HOURCAST_DASK_SCHEDULER = local.dask_enabled ? local.dask_scheduler_address : ""
  }

  secrets = {
    HOURCAST_DB_USER            = "${module.app_db.master_user_secret_arn}:username::"
    HOURCAST_DB_PASSWORD        = "${module.app_db.master_user_secret_arn}:password::"
    HOURCAST_OPENAQ_API_KEY     = aws_secretsmanager_secret.openaq_api_key.arn
    HOURCAST_MAGE_TRIGGER_TOKEN = aws_secretsmanager_secret.mage_trigger_token.arn
    DEFAULT_OWNER_PASSWORD      = "${aws_secretsmanager_secret.mage.arn}:owner_password::"
    JWT_SECRET                  = "${aws_secretsmanager_secret.mage.arn}:jwt_secret::"
  }

  # Mage writes into its project folder (.file_versions, caches) while it runs.
  readonly_root_filesystem = false
  ulimits                  = [{ name = "nofile", softLimit = 16384, hardLimit = 32768 }]
  stop_timeout             = 120

  health_check = {
    command      = ["CMD-SHELL", "curl -fsS -o /dev/null http://127.0.0.1:6789/api/status || exit 1"]
    start_period = 180
  }

  ingress_security_group_ids = {
    alb = module.alb.security_group_id
    api = module.api.security_group_id # POST /api/pipeline_schedules/<id>/api_trigger
  }
  egress_rules = merge(local.https_egress, local.postgres_egress, local.mlflow_egress, local.dask_egress)

  load_balancer = {
    listener_arn             = module.alb.https_listener_arn
    load_balancer_arn_suffix = module.alb.arn_suffix
    host_header              = local.host_names.mage
    priority                 = 300
    source_cidrs             = var.admin_cidr_blocks
    health_check_path        = "/api/status"
  }
  health_check_grace_period_seconds = 300

  service_connect = {
    namespace_arn = aws_service_discovery_http_namespace.this.arn
    dns_name      = local.mage_service_connect_name
  }

  desired_count                      = 1
  deployment_maximum_percent         = 100
  deployment_minimum_healthy_percent = 0
  autoscaling                        = null
}
