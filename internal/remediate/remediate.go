// Package remediate acts on open issues: it plans what is due (remediation
// enabled for the kind and account, retention period passed, not
// whitelisted, under the per-run blast-radius cap), re-checks each
// credential live right before acting, acts (UpdateAccessKey
// Status=Inactive, DeleteLoginProfile), verifies the new state, and journals
// every action with the state before it: an intent before the AWS call, its
// completion after the verification. Rollback re-activates keys keywarden
// deactivated, from the journal.
//
// This is the only package that holds an IAM writer.
package remediate

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keywarden/keywarden/internal/inventory"
)

// Refusals and skips. Plan items and outcomes carry errors wrapping these;
// branch on them with errors.Is.
var (
	// ErrNotEnabled: remediation is off for the kind (config "remediation")
	// and the command did not name the kind.
	ErrNotEnabled = errors.New("remediation is not enabled for this kind")
	// ErrAccountExcluded: the account is not in remediation_accounts.
	ErrAccountExcluded = errors.New("account is not in remediation_accounts")
	// ErrNotDue: remediation_retention_period has not passed since the
	// report of the violation (since detection when reporting is off).
	ErrNotDue = errors.New("remediation retention period has not passed")
	// ErrNotReported: reporting is on for the kind and the violation has not
	// been delivered on any channel yet: nothing is due before its report.
	ErrNotReported = errors.New("not reported")
	// ErrNotViolation: the issue is a warning; its deadline is ahead.
	ErrNotViolation = errors.New("not past its deadline")
	// ErrWhitelisted: the issue (or, at the live re-check, the credential) is
	// exempt: whitelist.json or the KeyAutoExpire=false tag.
	ErrWhitelisted = errors.New("whitelisted")
	// ErrNoKeyID: the issue names a credential report key slot, not an
	// access key ID (it came from a credential report file): keywarden acts
	// on key IDs only.
	ErrNoKeyID = errors.New("the issue names a key slot, not an access key ID")
	// ErrOwnKey: the key is the one keywarden itself is running with.
	ErrOwnKey = errors.New("keywarden's own access key")
	// ErrOverCap: the account's plan is larger than max_remediations_per_run.
	ErrOverCap = errors.New("over the blast-radius cap")
	// ErrPending: an earlier action on the credential is unfinished in the
	// journal and could not be reconciled yet.
	ErrPending = errors.New("an earlier action on this credential is unfinished")
	// ErrDeclined: the operator answered no (or quit) at the prompt.
	ErrDeclined = errors.New("declined at the prompt")
	// ErrNoLongerQualifies: the live re-check found the credential no longer
	// due (used since, already inactive, deleted, rotated).
	ErrNoLongerQualifies = errors.New("no longer qualifies at the live re-check")
	// ErrVerifyFailed: after the call, the live state is not the expected one.
	ErrVerifyFailed = errors.New("verification failed")
	// ErrCannotRestore: a deleted login profile (password) cannot be
	// restored by keywarden.
	ErrCannotRestore = errors.New("a deleted password cannot be restored")
	// ErrNotRollbackable: the action is not one keywarden can undo (not a
	// completed deactivation, or already rolled back).
	ErrNotRollbackable = errors.New("not a completed action keywarden can roll back")
	// ErrInDoubt: the action is indeterminate (keywarden stopped before
	// recording its call, and the change may be a person's): rollback
	// leaves it alone unless forced.
	ErrInDoubt = errors.New("in doubt: the change may not be keywarden's")
	// ErrHeld: the credential was rolled back and is on hold (exempt from
	// remediation) until the hold ends.
	ErrHeld = errors.New("rolled back and on hold")
)

// IAMReader is the read part of the IAM API the live re-check and the
// verification use; *iam.Client satisfies it.
type IAMReader interface {
	ListAccessKeys(context.Context, *iam.ListAccessKeysInput, ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error)
	GetAccessKeyLastUsed(context.Context, *iam.GetAccessKeyLastUsedInput, ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
	GetLoginProfile(context.Context, *iam.GetLoginProfileInput, ...func(*iam.Options)) (*iam.GetLoginProfileOutput, error)
	GetUser(context.Context, *iam.GetUserInput, ...func(*iam.Options)) (*iam.GetUserOutput, error)
	ListUserTags(context.Context, *iam.ListUserTagsInput, ...func(*iam.Options)) (*iam.ListUserTagsOutput, error)
}

// IAMWriter is the only mutating IAM surface of keywarden.
type IAMWriter interface {
	UpdateAccessKey(context.Context, *iam.UpdateAccessKeyInput, ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
	DeleteLoginProfile(context.Context, *iam.DeleteLoginProfileInput, ...func(*iam.Options)) (*iam.DeleteLoginProfileOutput, error)
}

// IAM is what remediation needs in one account.
type IAM interface {
	IAMReader
	IAMWriter
}

var _ IAM = (*iam.Client)(nil)

// Clients returns the IAM client for an account (the main credentials, or an
// assumed role).
type Clients func(ctx context.Context, a inventory.Account) (IAM, error)

// Op is what an action does.
type Op string

// Operations.
const (
	OpDeactivateKey      Op = "deactivate_key"       // UpdateAccessKey Status=Inactive
	OpDeleteLoginProfile Op = "delete_login_profile" // DeleteLoginProfile
	OpReactivateKey      Op = "reactivate_key"       // rollback: UpdateAccessKey Status=Active
)
