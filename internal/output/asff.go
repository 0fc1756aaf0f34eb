package output

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/keywarden/keywarden/internal/policy"
)

// ASFF is the format of `-o asff` and of the Security Hub import.
const ASFF Format = "asff"

// ASFFOptions name where the findings are imported.
type ASFFOptions struct {
	// Region and Account of the Security Hub the findings go to (the
	// product ARN: arn:<partition>:securityhub:<region>:<account>:product/<account>/default).
	Region, Account, Partition string
	AsOf                       time.Time
	// ShowKeyIDs prints access key IDs in full; otherwise they are masked in
	// every field (-o asff), except the identifiers of findings imported
	// into Security Hub (Import), which must stay distinct and stable.
	ShowKeyIDs bool
	Import     bool
}

// Finding is one AWS Security Finding Format record (the subset keywarden
// fills). Field names are ASFF's, so the same JSON decodes into the SDK's
// types.AwsSecurityFinding.
type Finding struct {
	SchemaVersion string            `json:"SchemaVersion"`
	Id            string            `json:"Id"`
	ProductArn    string            `json:"ProductArn"`
	ProductName   string            `json:"ProductName"`
	CompanyName   string            `json:"CompanyName"`
	GeneratorId   string            `json:"GeneratorId"`
	AwsAccountId  string            `json:"AwsAccountId"`
	Types         []string          `json:"Types"`
	CreatedAt     string            `json:"CreatedAt"`
	UpdatedAt     string            `json:"UpdatedAt"`
	Severity      asffSeverity      `json:"Severity"`
	Title         string            `json:"Title"`
	Description   string            `json:"Description"`
	Remediation   asffRemediation   `json:"Remediation"`
	ProductFields map[string]string `json:"ProductFields"`
	Resources     []asffResource    `json:"Resources"`
	Compliance    asffStatus        `json:"Compliance"`
	Workflow      asffStatus        `json:"Workflow"`
	RecordState   string            `json:"RecordState"`
}

type asffSeverity struct {
	Label string `json:"Label"`
}

type asffRemediation struct {
	Recommendation struct {
		Text string `json:"Text"`
		Url  string `json:"Url"`
	} `json:"Recommendation"`
}

type asffStatus struct {
	Status string `json:"Status"`
}

type asffResource struct {
	Type      string          `json:"Type"`
	Id        string          `json:"Id"`
	Partition string          `json:"Partition"`
	Region    string          `json:"Region"`
	Details   json.RawMessage `json:"Details,omitempty"`
}

var asffTitles = map[policy.Kind]string{
	policy.InactiveKeys:      "IAM access key unused for more than %d days",
	policy.KeysRotation:      "IAM access key not rotated for more than %d days",
	policy.InactivePasswords: "IAM console password unused for more than %d days",
}

var asffFix = map[policy.Kind]string{
	policy.InactiveKeys:      "Deactivate and delete the access key if it is no longer needed (aws iam update-access-key --status Inactive), or use it.",
	policy.KeysRotation:      "Rotate the access key: create a new one, switch the application to it, then deactivate and delete the old one.",
	policy.InactivePasswords: "Delete the user's console password if it is no longer needed (aws iam delete-login-profile).",
}

// ToASFF converts findings. IDs are stable (account, kind, credential), so a
// re-import updates the same Security Hub finding instead of adding one;
// CreatedAt is when the credential crossed the warning threshold or the
// limit, which is stable across runs too. Severity: violation MEDIUM (HIGH
// past twice the limit), warning LOW, whitelisted INFORMATIONAL with the
// workflow SUPPRESSED.
func ToASFF(fs []policy.Finding, o ASFFOptions) []Finding {
	part := o.Partition
	if part == "" {
		part = "aws"
	}
	out := make([]Finding, 0, len(fs))
	for _, f := range fs {
		acct := o.Account
		if acct == "" {
			acct = f.AccountID
		}
		subject, resourceID := f.Subject(), f.KeyID
		if !o.ShowKeyIDs && !o.Import {
			subject, resourceID = MaskText(subject), MaskKeyID(resourceID)
		}
		a := Finding{
			SchemaVersion: "2018-10-08",
			Id:            fmt.Sprintf("keywarden/%s/%s/%s", f.AccountID, f.Kind, subject),
			ProductArn:    fmt.Sprintf("arn:%s:securityhub:%s:%s:product/%s/default", part, o.Region, acct, acct),
			ProductName:   "keywarden",
			CompanyName:   "keywarden",
			GeneratorId:   "keywarden/" + string(f.Kind),
			AwsAccountId:  f.AccountID,
			Types:         []string{"Software and Configuration Checks/AWS Security Best Practices"},
			UpdatedAt:     o.AsOf.UTC().Format(time.RFC3339),
			Title:         fmt.Sprintf(asffTitles[f.Kind], f.LimitDays),
			RecordState:   "ACTIVE",
			ProductFields: map[string]string{
				"keywarden/Kind":      string(f.Kind),
				"keywarden/Status":    Status(f),
				"keywarden/AgeDays":   fmt.Sprint(f.AgeDays),
				"keywarden/LimitDays": fmt.Sprint(f.LimitDays),
				"keywarden/DaysLeft":  fmt.Sprint(f.DaysLeft),
				"keywarden/Deadline":  f.Deadline.UTC().Format(time.RFC3339),
			},
		}
		created := f.Deadline
		switch {
		case f.Whitelisted():
			a.Severity.Label, a.Compliance.Status, a.Workflow.Status = "INFORMATIONAL", "WARNING", "SUPPRESSED"
			a.ProductFields["keywarden/Exemption"] = Options{ShowKeyIDs: o.ShowKeyIDs}.Text(f.Exemption)
		case f.Stage == policy.Violation:
			a.Severity.Label, a.Compliance.Status, a.Workflow.Status = "MEDIUM", "FAILED", "NEW"
			if f.AgeDays > 2*f.LimitDays {
				a.Severity.Label = "HIGH"
			}
		default:
			a.Severity.Label, a.Compliance.Status, a.Workflow.Status = "LOW", "WARNING", "NEW"
			created = policy.AddDays(created, -f.DaysLeft)
		}
		a.CreatedAt = created.UTC().Format(time.RFC3339)
		who := f.UserName
		cred := "console password"
		if f.Kind != policy.InactivePasswords {
			cred = "access key " + Options{ShowKeyIDs: o.ShowKeyIDs}.credential(f.Kind, f.KeyID, f.KeySlot)
		}
		last := "never used"
		if f.LastUsed != nil {
			last = "last used " + f.LastUsed.UTC().Format("2006-01-02")
		}
		a.Description = fmt.Sprintf("IAM user %s: %s, created %s, %s; %s.", who, cred, f.Created.UTC().Format("2006-01-02"), last,
			DaysLeft(f.DaysLeft, f.Stage))
		if len(a.Description) > 1024 {
			a.Description = a.Description[:1024]
		}
		a.Remediation.Recommendation.Text = asffFix[f.Kind]
		a.Remediation.Recommendation.Url = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html"
		userARN := f.UserARN
		if userARN == "" {
			userARN = fmt.Sprintf("arn:%s:iam::%s:user/%s", part, f.AccountID, f.UserName)
		}
		if f.Kind == policy.InactivePasswords || f.KeyID == "" {
			a.Resources = []asffResource{{Type: "AwsIamUser", Id: userARN, Partition: part, Region: o.Region,
				Details: mustJSON(map[string]any{"AwsIamUser": map[string]any{"UserName": f.UserName}})}}
		} else {
			a.Resources = []asffResource{{Type: "AwsIamAccessKey", Id: resourceID, Partition: part, Region: o.Region,
				Details: mustJSON(map[string]any{"AwsIamAccessKey": map[string]any{
					"UserName": f.UserName, "Status": "Active", "CreatedAt": f.Created.UTC().Format(time.RFC3339),
					"PrincipalName": f.UserName, "PrincipalType": "IAMUser", "AccountId": f.AccountID}})}}
		}
		out = append(out, a)
	}
	return out
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// WriteASFF writes the findings as one JSON array, the input of
// `aws securityhub batch-import-findings --findings file://...`.
func WriteASFF(w io.Writer, fs []Finding) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if fs == nil {
		fs = []Finding{}
	}
	return enc.Encode(fs)
}
