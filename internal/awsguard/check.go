package awsguard

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// check turns a body the SDK cannot decode, and a decoded answer missing
// what the API guarantees, into an Error naming the action.
type check struct{}

func (*check) ID() string { return "KeywardenResponseCheck" }

// isTruncatedTag must appear in every page of an IAM list: the SDK reads a
// page without it as the last one.
const isTruncatedTag = "<IsTruncated>"

func (*check) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	out middleware.DeserializeOutput, md middleware.Metadata, err error,
) {
	service, op := awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx)
	var w *watch
	if service == "IAM" && iamPaginated(op) {
		w = &watch{needle: []byte(isTruncatedTag)}
		ctx = middleware.WithStackValue(ctx, watchKey{}, w)
	}
	out, md, err = next.HandleDeserialize(ctx, in)
	if err != nil {
		var ge *Error
		var ae smithy.APIError
		if errors.As(err, &ge) || errors.As(err, &ae) || ctx.Err() != nil {
			return out, md, err
		}
		// Not an AWS error, yet the deserializer failed: on a 2xx answer,
		// the body is cut off or not what the action answers.
		var de *smithy.DeserializationError
		if status := statusOf(out, err); errors.As(err, &de) || status/100 == 2 {
			return out, md, &Error{Service: service, Operation: op, Problem: fmt.Sprintf("answered HTTP %d with a body that cannot be decoded", status), Err: err}
		}
		return out, md, err
	}
	if w != nil && !w.found && paged(out.Result) {
		return out, md, newError(service, op, "answered without IsTruncated: the page is incomplete")
	}
	if o, ok := out.Result.(*organizations.ListAccountsOutput); ok && len(o.Accounts) == 0 && o.NextToken == nil && isFirstPage(ctx) {
		// {} is a valid page, but not the whole list: an organization
		// holds at least its management account.
		return out, md, newError(service, op, "answered no account at all (an organization has at least its management account)")
	}
	if what := missing(out.Result); what != "" {
		return out, md, newError(service, op, "answered without %s", what)
	}
	return out, md, nil
}

// firstPage records whether a call asks for the first page of a list
// (no NextToken): some lists can never be empty as a whole.
type firstPage struct{}

type firstPageKey struct{}

func (*firstPage) ID() string { return "KeywardenFirstPage" }

func (*firstPage) HandleInitialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
	middleware.InitializeOutput, middleware.Metadata, error,
) {
	if p, ok := in.Parameters.(*organizations.ListAccountsInput); ok && p.NextToken == nil {
		ctx = middleware.WithStackValue(ctx, firstPageKey{}, true)
	}
	return next.HandleInitialize(ctx, in)
}

func isFirstPage(ctx context.Context) bool {
	v, _ := middleware.GetStackValue(ctx, firstPageKey{}).(bool)
	return v
}

// statusOf returns the HTTP status of the answer, or 0.
func statusOf(out middleware.DeserializeOutput, err error) int {
	if r, ok := out.RawResponse.(*smithyhttp.Response); ok && r.Response != nil {
		return r.StatusCode
	}
	var se interface{ HTTPStatusCode() int }
	if errors.As(err, &se) {
		return se.HTTPStatusCode()
	}
	return 0
}

// iamPaginated reports whether an IAM action may answer in pages (Marker,
// IsTruncated): the body is watched for IsTruncated, which paged checks
// the output type has.
func iamPaginated(op string) bool {
	switch op {
	case "GetAccountAuthorizationDetails", "GetGroup", "SimulateCustomPolicy", "SimulatePrincipalPolicy":
		return true
	}
	return strings.HasPrefix(op, "List")
}

// paged reports whether result is a page of a list: an output with
// IsTruncated (a few IAM List actions, such as ListSAMLProviders, answer
// whole lists without it).
func paged(result any) bool {
	v := reflect.ValueOf(result)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return false
	}
	return v.Elem().FieldByName("IsTruncated").IsValid()
}

// missing returns the element a decoded answer lacks though its API
// guarantees it, or "".
func missing(result any) string {
	switch o := result.(type) {
	case *iam.GetUserOutput:
		switch {
		case o.User == nil:
			return "User"
		case o.User.UserName == nil:
			return "User.UserName"
		case o.User.CreateDate == nil:
			return "User.CreateDate"
		}
	case *iam.GetLoginProfileOutput:
		switch {
		case o.LoginProfile == nil:
			return "LoginProfile"
		case o.LoginProfile.CreateDate == nil:
			return "LoginProfile.CreateDate"
		}
	case *iam.GetCredentialReportOutput:
		switch {
		case len(o.Content) == 0:
			return "Content"
		case o.GeneratedTime == nil:
			return "GeneratedTime"
		}
	case *iam.GenerateCredentialReportOutput:
		if o.State == "" {
			return "State"
		}
	case *iam.GetAccessKeyLastUsedOutput:
		if o.AccessKeyLastUsed == nil {
			return "AccessKeyLastUsed"
		}
	case *iam.ListAccessKeysOutput:
		for i, k := range o.AccessKeyMetadata {
			switch {
			case k.AccessKeyId == nil:
				return fmt.Sprintf("AccessKeyMetadata[%d].AccessKeyId", i)
			case k.Status == "":
				return fmt.Sprintf("AccessKeyMetadata[%d].Status", i)
			case k.CreateDate == nil:
				return fmt.Sprintf("AccessKeyMetadata[%d].CreateDate", i)
			}
		}
	case *iam.GetAccountAuthorizationDetailsOutput:
		for i, u := range o.UserDetailList {
			if u.UserName == nil {
				return fmt.Sprintf("UserDetailList[%d].UserName", i)
			}
		}
	case *iam.ListUsersOutput:
		for i, u := range o.Users {
			if u.UserName == nil {
				return fmt.Sprintf("Users[%d].UserName", i)
			}
		}
	case *sts.AssumeRoleOutput:
		if o.Credentials == nil || o.Credentials.AccessKeyId == nil || o.Credentials.SecretAccessKey == nil {
			return "Credentials"
		}
	case *sts.GetCallerIdentityOutput:
		if o.Account == nil {
			return "Account"
		}
	case *organizations.ListAccountsOutput:
		for i, a := range o.Accounts {
			switch {
			case a.Id == nil:
				return fmt.Sprintf("Accounts[%d].Id", i)
			case a.State == "" && a.Status == "":
				return fmt.Sprintf("Accounts[%d].Status", i)
			}
		}
	}
	if truncatedWithoutMarker(result) {
		return "Marker (IsTruncated=true: the list would end here, incomplete)"
	}
	return ""
}

// truncatedWithoutMarker reports whether result is a page (an output with
// IsTruncated and Marker, as every IAM list has) that says more follow but
// gives no marker to ask for them.
func truncatedWithoutMarker(result any) bool {
	v := reflect.ValueOf(result)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return false
	}
	v = v.Elem()
	t, m := v.FieldByName("IsTruncated"), v.FieldByName("Marker")
	if !t.IsValid() || t.Kind() != reflect.Bool || !t.Bool() || !m.IsValid() || m.Kind() != reflect.Pointer {
		return false
	}
	return m.IsNil() || m.Elem().Kind() != reflect.String || m.Elem().String() == ""
}
