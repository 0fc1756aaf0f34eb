package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/output"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/iampolicy"
)

func newPolicyCmd(g *globals) *cobra.Command {
	var o iampolicy.Options
	var role string
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Print the least-privilege IAM policy keywarden needs",
		Long: `policy prints an IAM policy document (JSON):

  --role audit        (default) the role keywarden assumes in every account
                      to scan it (aws.role_name_identification, else
                      aws.role_name): read-only IAM; --remediation adds
                      iam:UpdateAccessKey and iam:DeleteLoginProfile on users
  --role remediation  the role assumed to remediate and roll back
                      (aws.role_name_reporting, else aws.role_name): the
                      read-only IAM of the live re-check, plus the two actions
  --role runner       keywarden's own identity: assume the member roles named
                      in config.json, list the organization's accounts,
                      publish to the configured SNS topic, keep issues in
                      DynamoDB

Role names and the topic come from config.json in --config-dir when it is
there (--role-name overrides the role names). The same documents, for the
default names, are in deploy/iam/; a test checks that every AWS call
keywarden's scenario suite makes is allowed, and every allowed action is used.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("role-name") {
				cfg, err := policyConfig(g.configDir)
				if err != nil {
					return err
				}
				if cfg != nil {
					o.RoleName = cfg.AWS.RoleName
					o.RoleNames = []string{cfg.AWS.ScanRole(), cfg.AWS.RemediationRole()}
					if cfg.Notify.SNS.Enabled {
						o.TopicARN = cfg.Notify.SNS.TopicARN
					}
				}
			}
			r := iampolicy.Role(role)
			if role == "remediation" {
				r, o.Remediation = iampolicy.Audit, true
			}
			d, err := iampolicy.For(r, o)
			if err != nil {
				return usageError(fmt.Sprintf("--role %q: use audit, remediation or runner", role))
			}
			_, err = g.env.Stdout.Write(d.JSON())
			return err
		},
	}
	withFormats(cmd, output.JSON)
	cmd.Flags().StringVar(&role, "role", "audit", "audit, remediation or runner")
	cmd.Flags().BoolVar(&o.Remediation, "remediation", false, "include the remediation actions (audit role)")
	cmd.Flags().StringVar(&o.RoleName, "role-name", config.DefaultRoleName, "member-account role the runner may assume (default: the roles of config.json)")
	return cmd
}

// policyConfig reads the configuration for its role names and topic: nil
// when there is no config.json (the defaults apply), an error when it is
// invalid.
func policyConfig(dir string) (*config.Config, error) {
	if _, err := os.Stat(filepath.Join(dir, config.ConfigFile)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	cfg, err := config.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("configuration in %s (the role names and topic of the policy come from it; run keywarden config validate): %w", dir, err)
	}
	return cfg, nil
}
