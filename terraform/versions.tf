terraform {
  # 1.10: S3-native state locking (use_lockfile) and validation blocks that refer to other variables.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0"
    }
    random = {
      source  = "hashicorp/random"
      version = ">= 3.6"
    }
  }

  # Partial configuration: bucket, key and region come from
  #   terraform init -backend-config="bucket=$TF_BACKEND_BUCKET" \
  #     -backend-config="key=$TF_BACKEND_KEY" -backend-config="region=$TF_BACKEND_REGION"
  # The lock is an object next to the state (no DynamoDB table).
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}
