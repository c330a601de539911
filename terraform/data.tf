################################################################################
# Databases
################################################################################

# Observation store (database "hourcast") and, beside it, Mage's metadata (database "mage", which
# the Mage image's entrypoint creates on first start), as in the local stack.
module "app_db" {
  source = "./modules/rds_postgres"

  identifier              = "${local.prefix}-app"
  db_name                 = "hourcast"
  username                = "hourcast"
  instance_class          = var.db_instance_class
  allocated_storage       = var.db_allocated_storage
  multi_az                = var.db_multi_az
  backup_retention_period = var.db_backup_retention_days
  deletion_protection     = var.deletion_protection
  kms_key_arn             = aws_kms_key.this.arn
  log_retention_days      = var.log_retention_days
  vpc_id                  = module.network.vpc_id
  subnet_ids              = module.network.private_subnet_ids

  master_password_rotation_schedule = var.db_password_rotation_schedule

  allowed_security_group_ids = {
    api  = module.api.security_group_id
    mage = module.mage.security_group_id
  }
}

# MLflow's backend store (runs, metrics, the model registry).
module "mlflow_db" {
  source = "./modules/rds_postgres"

  identifier              = "${local.prefix}-mlflow"
  db_name                 = "mlflow"
  username                = "mlflow"
  instance_class          = var.db_instance_class
  allocated_storage       = var.db_allocated_storage
  multi_az                = var.db_multi_az
  backup_retention_period = var.db_backup_retention_days
  deletion_protection     = var.deletion_protection
  kms_key_arn             = aws_kms_key.this.arn
  log_retention_days      = var.log_retention_days
  vpc_id                  = module.network.vpc_id
  subnet_ids              = module.network.private_subnet_ids

  master_password_rotation_schedule = var.db_password_rotation_schedule

  allowed_security_group_ids = {
    mlflow = module.mlflow.security_group_id
  }
}

################################################################################
# Buckets
################################################################################

# Account ID in the names: bucket names are global.
module "artifacts_bucket" {
  source = "./modules/bucket"

  name          = "${local.prefix}-mlflow-artifacts-${local.account_id}"
  kms_key_arn   = aws_kms_key.this.arn
  force_destroy = var.force_destroy
}

# Raw traffic objects (metro/traffic_<year>[_<tag>].csv) and Mage's state: block outputs under
# mage/variables/ and pipeline logs under mage/logs/.
module "traffic_bucket" {
  source = "./modules/bucket"

  name          = "${local.prefix}-traffic-${local.account_id}"
  kms_key_arn   = aws_kms_key.this.arn
  force_destroy = var.force_destroy

  lifecycle_rules = [
    {
      # Block outputs are caches of a run; Mage's own retention (variables_retention_period) is 30 days too.
      id                = "mage-block-outputs"
      prefix            = "mage/variables/"
      expire_after_days = 30
    },
    {
      id                = "mage-pipeline-logs"
      prefix            = "mage/logs/"
      expire_after_days = var.log_retention_days
    },
    {
      # Yearly CSVs are read once into PostgreSQL; later reads only compare ETags.
      id                           = "traffic-objects"
      prefix                       = "metro/"
      infrequent_access_after_days = 30
    },
  ]
}
