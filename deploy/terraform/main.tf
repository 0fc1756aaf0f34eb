# keywarden on AWS Lambda: an EventBridge schedule runs `keywarden run` (scan,
# report, remediate) over the organization; issues live in DynamoDB (Hammer's
# table layout), notifications also go to an SNS topic.

locals {
  tags = merge({ ManagedBy = "keywarden" }, var.tags)
}

# --- issue store ------------------------------------------------------------

resource "aws_dynamodb_table" "issues" {
  for_each     = var.hammer_table_names
  name         = each.value
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "account_id"
  range_key    = "issue_id"

  attribute {
    name = "account_id"
    type = "S"
  }
  attribute {
    name = "issue_id"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  tags = local.tags
}

# Issue ID counter, ID -> issue pointers, references of Hammer's rows, the run lock.
resource "aws_dynamodb_table" "meta" {
  name         = "${var.name}-meta"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  tags = local.tags
}

# Remediation journal: actions, and one intent guard per credential acted on.
resource "aws_dynamodb_table" "journal" {
  name         = "${var.name}-journal"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  tags = local.tags
}

# Notification delivery state: deliveries, tickets, channels finished with closed issues.
resource "aws_dynamodb_table" "notify" {
  name         = "${var.name}-notify"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  tags = local.tags
}

# Closed issues a later issue of the same credential replaced in Hammer's
# tables: history that Hammer's reporting would otherwise mistake for issues.
resource "aws_dynamodb_table" "history" {
  name         = "${var.name}-history"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
  tags = local.tags
}

# --- notifications ------------------------------------------------------------

resource "aws_sns_topic" "notifications" {
  name              = "${var.name}-notifications"
  kms_master_key_id = "alias/aws/sns"
  tags              = local.tags
}

# --- the runner's identity ------------------------------------------------------

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "runner" {
  name               = "${var.name}-runner"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
  tags               = local.tags
}

# The same document as `keywarden policy --role runner` (deploy/iam/runner-policy.json).
resource "aws_iam_role_policy" "runner" {
  name   = "${var.name}-runner"
  role   = aws_iam_role.runner.id
  policy = file("${path.module}/../iam/runner-policy.json")
}

# Reading and (when enabled) remediating the keywarden account itself, where
# the runner uses its own credentials instead of assuming the member role.
resource "aws_iam_role_policy" "own_account" {
  name   = "${var.name}-own-account"
  role   = aws_iam_role.runner.id
  policy = file("${path.module}/../iam/audit-policy.json")
}

resource "aws_iam_role_policy_attachment" "logs" {
  role       = aws_iam_role.runner.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

# --- the function and its schedule ------------------------------------------------

resource "aws_lambda_function" "keywarden" {
  function_name    = var.name
  role             = aws_iam_role.runner.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  filename         = var.package_path
  source_code_hash = filebase64sha256(var.package_path)
  timeout          = var.timeout_seconds
  memory_size      = var.memory_mb

  environment {
    variables = {
      KEYWARDEN_CONFIG_DIR        = "/var/task/config"
      KEYWARDEN_CONFIG_SSM_PREFIX = var.config_ssm_parameter
    }
  }
  tags = local.tags
}

resource "aws_cloudwatch_event_rule" "schedule" {
  name                = "${var.name}-schedule"
  description         = "Runs keywarden (scan, report, remediate) on a schedule."
  schedule_expression = var.schedule_expression
  tags                = local.tags
}

resource "aws_cloudwatch_event_target" "keywarden" {
  rule = aws_cloudwatch_event_rule.schedule.name
  arn  = aws_lambda_function.keywarden.arn
}

resource "aws_lambda_permission" "events" {
  statement_id  = "AllowEventBridge"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.keywarden.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule.arn
}
