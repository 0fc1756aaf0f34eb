// Package securityhub imports keywarden's findings into AWS Security Hub
// (BatchImportFindings), in the AWS Security Finding Format.
package securityhub

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	"github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/keywarden/keywarden/internal/output"
)

// BatchSize is Security Hub's limit of findings per BatchImportFindings call.
const BatchSize = 100

// API is the one call used.
type API interface {
	BatchImportFindings(context.Context, *securityhub.BatchImportFindingsInput, ...func(*securityhub.Options)) (*securityhub.BatchImportFindingsOutput, error)
}

// Result counts what Security Hub accepted.
type Result struct {
	Imported, Failed int
	// Errors are Security Hub's reasons for the failed findings (by ID).
	Errors []string
}

// Import sends the findings in batches of 100. The IDs are stable, so a
// re-import updates the existing Security Hub findings. Every batch is
// attempted; the error reports the first batch that failed as a whole.
func Import(ctx context.Context, c API, fs []output.Finding) (Result, error) {
	var res Result
	var first error
	for start := 0; start < len(fs); start += BatchSize {
		end := min(start+BatchSize, len(fs))
		batch, err := toSDK(fs[start:end])
		if err != nil {
			return res, err
		}
		out, err := c.BatchImportFindings(ctx, &securityhub.BatchImportFindingsInput{Findings: batch})
		if err != nil {
			res.Failed += end - start
			if first == nil {
				first = fmt.Errorf("security hub: import findings %d-%d: %w", start+1, end, err)
			}
			continue
		}
		res.Imported += int(aws.ToInt32(out.SuccessCount))
		res.Failed += int(aws.ToInt32(out.FailedCount))
		for _, f := range out.FailedFindings {
			res.Errors = append(res.Errors, fmt.Sprintf("%s: %s %s", aws.ToString(f.Id), aws.ToString(f.ErrorCode), aws.ToString(f.ErrorMessage)))
		}
	}
	if first == nil && res.Failed > 0 {
		first = fmt.Errorf("security hub refused %d finding(s): %s", res.Failed, strings.Join(res.Errors, "; "))
	}
	return res, first
}

// toSDK turns ASFF records into the SDK's type: the JSON field names are
// ASFF's, which are the SDK's field names.
func toSDK(fs []output.Finding) ([]types.AwsSecurityFinding, error) {
	b, err := json.Marshal(fs)
	if err != nil {
		return nil, err
	}
	var out []types.AwsSecurityFinding
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("security hub: findings do not fit the SDK's ASFF type: %w", err)
	}
	return out, nil
}
