data "aws_partition" "current" {}

locals {
  major_version = split(".", var.engine_version)[0]
  log_exports   = ["postgresql", "upgrade"]
}

################################################################################
# Network
################################################################################

resource "aws_db_subnet_group" "this" {
  count = var.create ? 1 : 0

  name       = var.identifier
  subnet_ids = var.subnet_ids

  tags = var.tags
}

# No egress rules: Terraform removes the default allow-all rule, and the database starts no
# connections of its own.
resource "aws_security_group" "this" {
  count = var.create ? 1 : 0

  name        = "${var.identifier}-db"
  description = "PostgreSQL ${var.identifier}: port 5432 from the listed security groups only"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.identifier}-db" })
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each = var.create ? var.allowed_security_group_ids : {}

  security_group_id            = aws_security_group.this[0].id
  description                  = "PostgreSQL from ${each.key}"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

################################################################################
# Parameters
################################################################################

resource "aws_db_parameter_group" "this" {
  count = var.create ? 1 : 0

  name_prefix = "${var.identifier}-"
  family      = "postgres${local.major_version}"
  description = "PostgreSQL ${local.major_version} for ${var.identifier}: TLS required, slow statements and DDL logged"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.log_min_duration_statement_ms)
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

################################################################################
# Logs and monitoring
################################################################################

# Created before the instance so RDS writes into groups with a retention and a key, instead of
# creating never-expiring ones itself.
resource "aws_cloudwatch_log_group" "this" {
  for_each = var.create ? toset(local.log_exports) : toset([])

  name              = "/aws/rds/instance/${var.identifier}/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

data "aws_iam_policy_document" "monitoring_assume" {
  count = var.create && var.monitoring_interval > 0 ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  count = var.create && var.monitoring_interval > 0 ? 1 : 0

  name               = "${var.identifier}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume[0].json

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  count = var.create && var.monitoring_interval > 0 ? 1 : 0

  role       = aws_iam_role.monitoring[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

################################################################################
# Instance
################################################################################

resource "aws_db_instance" "this" {
  count = var.create ? 1 : 0
  #checkov:skip=CKV_AWS_157:Multi-AZ doubles the instance cost; it is the variable multi_az (off at the minimum size, on for production that must survive an AZ outage)
  #checkov:skip=CKV_AWS_353:Performance Insights is the variable performance_insights_enabled (off by default: not every small instance class supports it)

  identifier     = var.identifier
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  db_name        = var.db_name
  port           = 5432

  # RDS generates the master password and keeps it in Secrets Manager (JSON keys "username" and
  # "password"); Terraform never sees it, and no variable carries it.
  username                      = var.username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.this[0].name
  vpc_security_group_ids = [aws_security_group.this[0].id]
  publicly_accessible    = false
  multi_az               = var.multi_az
  parameter_group_name   = aws_db_parameter_group.this[0].name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  iam_database_authentication_enabled = true
  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false
  apply_immediately                   = var.apply_immediately

  backup_retention_period   = var.backup_retention_period
  backup_window             = var.backup_window
  maintenance_window        = var.maintenance_window
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.identifier}-final"

  enabled_cloudwatch_logs_exports       = local.log_exports
  monitoring_interval                   = var.monitoring_interval
  monitoring_role_arn                   = var.monitoring_interval > 0 ? aws_iam_role.monitoring[0].arn : null
  performance_insights_enabled          = var.performance_insights_enabled
  performance_insights_kms_key_id       = var.performance_insights_enabled ? var.kms_key_arn : null
  performance_insights_retention_period = var.performance_insights_enabled ? 7 : null

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.this]
}

################################################################################
# Master password rotation
################################################################################

# RDS rotates its managed secret every 7 days unless told otherwise. ECS injects the password
# when a task starts, so after a rotation the tasks must be restarted before they open new
# connections: the root module restarts them on a matching schedule.
resource "aws_secretsmanager_secret_rotation" "master" {
  count = var.create ? 1 : 0
  #checkov:skip=CKV_AWS_304:The schedule is a variable checkov cannot evaluate; the default rotates monthly (cron(0 3 1 * ? *)), within the 90 days the check asks for

  secret_id          = aws_db_instance.this[0].master_user_secret[0].secret_arn
  rotate_immediately = false

  rotation_rules {
    schedule_expression = var.master_password_rotation_schedule
    duration            = "1h"
  }
}
