output "function_name" {
  value = aws_lambda_function.keywarden.function_name
}

output "runner_role_arn" {
  description = "Trust this role from every member account's keywarden-audit role (KeywardenRunnerRoleName in the StackSet)."
  value       = aws_iam_role.runner.arn
}

output "sns_topic_arn" {
  value = aws_sns_topic.notifications.arn
}

output "issue_tables" {
  value = { for k, t in aws_dynamodb_table.issues : k => t.name }
}
