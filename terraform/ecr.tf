################################################################################
# Image repositories
################################################################################

# <prefix>-api, <prefix>-mlflow, <prefix>-mage: the deploy workflow pushes <git sha> tags.
module "ecr" {
  source   = "./modules/ecr_repository"
  for_each = local.services

  name         = each.value
  kms_key_arn  = aws_kms_key.this.arn
  force_delete = var.force_destroy
}
