variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "keywarden"
}

variable "package_path" {
  description = "Lambda deployment zip holding the bootstrap binary (see README: Lambda packaging) and, optionally, config/."
  type        = string
}

variable "architecture" {
  description = "Lambda architecture: arm64 or x86_64 (build GOARCH=arm64 or amd64 to match)."
  type        = string
  default     = "arm64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "schedule_expression" {
  description = "EventBridge schedule of keywarden run (daily at 10:00 UTC by default)."
  type        = string
  default     = "cron(0 10 * * ? *)"
}

variable "config_ssm_parameter" {
  description = "SSM parameter prefix holding config.json, whitelist.json, ticket_owners.json (under /keywarden/, e.g. /keywarden/prod); empty: use the config/ folder bundled in the zip. config.json must say \"store\": {\"type\": \"dynamodb\"} and \"sns\": {\"topic_arn\": <sns_topic_arn output>}."
  type        = string
  default     = ""
}

variable "member_role_name" {
  description = "Role keywarden assumes in every member account (aws.role_name); deploy it with deploy/cloudformation/member-role-stackset.yaml."
  type        = string
  default     = "keywarden-audit"
}

variable "hammer_table_names" {
  description = "Issue tables, one per kind: Dow Jones Hammer's default names, so an existing Hammer deployment's tables can be reused."
  type        = map(string)
  default = {
    user_inactivekeys      = "hammer-iam-user-keys-inactive"
    user_keysrotation      = "hammer-iam-user-keys-rotation"
    user_inactivepasswords = "hammer-iam-user-passwords-inactive"
  }
}

variable "timeout_seconds" {
  description = "Lambda timeout; an organization of hundreds of accounts needs minutes."
  type        = number
  default     = 900
}

variable "memory_mb" {
  type    = number
  default = 512
}

variable "tags" {
  type    = map(string)
  default = {}
}
