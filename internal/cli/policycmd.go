package cli

import (
	"github.com/spf13/cobra"

	"github.com/keywarden/keywarden/internal/iampolicy"
)

func newPolicyCmd(g *globals) *cobra.Command {
	var o iampolicy.Options
	var role string
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Print the least-privilege IAM policy keywarden needs",
		Long: `policy prints an IAM policy document (JSON):

  --role audit   (default) the role keywarden assumes in every account
                 (aws.role_name): read-only IAM; --remediation adds
                 iam:UpdateAccessKey and iam:DeleteLoginProfile on users
  --role runner  keywarden's own identity: assume the member roles, list the
                 organization's accounts, publish to SNS, keep issues in DynamoDB

The same documents are in deploy/iam/; a test checks that every AWS call
keywarden's scenario suite makes is allowed, and every allowed action is used.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := iampolicy.For(iampolicy.Role(role), o)
			if err != nil {
				return err
			}
			_, err = g.env.Stdout.Write(d.JSON())
			return err
		},
	}
	cmd.Flags().StringVar(&role, "role", "audit", "audit or runner")
	cmd.Flags().BoolVar(&o.Remediation, "remediation", false, "include the remediation actions (audit role)")
	cmd.Flags().StringVar(&o.RoleName, "role-name", "keywarden-audit", "member-account role the runner may assume")
	return cmd
}
