package awstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Organizations speaks the JSON 1.1 protocol: POST /, the action in the
// X-Amz-Target header (AWSOrganizationsV20161128.ListAccounts), a JSON body,
// JSON answers and errors named by "__type".

const orgTargetPrefix = "AWSOrganizationsV20161128."

// OrgAccount is a member account of the seeded organization.
type OrgAccount struct {
	ID    string
	Name  string
	Email string
	// Status is ACTIVE (default), SUSPENDED or PENDING_CLOSURE; it is
	// answered both as Status and as State.
	Status string
	Joined time.Time
}

type organization struct {
	id         string
	management string
	accounts   []OrgAccount
}

// SetOrganization seeds an AWS Organization managed by account management
// with these member accounts (the management account is listed too when it
// is among them, as AWS does). Only principals of the management account
// may call ListAccounts / DescribeOrganization; others get AccessDenied,
// as do all callers when no organization is seeded
// (AWSOrganizationsNotInUseException).
func (s *Server) SetOrganization(management string, accounts []OrgAccount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &organization{id: "o-" + uniqueID("", management)[:10], management: management}
	for _, a := range accounts {
		if a.Status == "" {
			a.Status = "ACTIVE"
		}
		if a.Email == "" {
			a.Email = a.ID + "@example.com"
		}
		o.accounts = append(o.accounts, a)
	}
	s.org = o
}

// orgParams flattens a JSON request body into the call record's parameters.
func orgParams(body []byte) (url.Values, error) {
	v := url.Values{}
	if len(body) == 0 {
		return v, nil
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return v, err
	}
	for k, x := range m {
		switch x := x.(type) {
		case string:
			v.Set(k, x)
		case float64:
			v.Set(k, strconv.FormatFloat(x, 'f', -1, 64))
		default:
			b, _ := json.Marshal(x)
			v.Set(k, string(b))
		}
	}
	return v, nil
}

// organizations runs an Organizations action; the caller holds s.mu.
func (s *Server) organizations(action string, p *principal, params url.Values) (any, *apiError) {
	if s.org == nil {
		return nil, newError(http.StatusBadRequest, "AWSOrganizationsNotInUseException",
			"Your account is not a member of an organization.")
	}
	if p.account != s.org.management {
		return nil, newError(http.StatusBadRequest, "AccessDeniedException",
			"You don't have permissions to access this resource.")
	}
	switch action {
	case "DescribeOrganization":
		type org struct {
			ID                 string `json:"Id"`
			Arn                string `json:"Arn"`
			FeatureSet         string `json:"FeatureSet"`
			MasterAccountArn   string `json:"MasterAccountArn"`
			MasterAccountEmail string `json:"MasterAccountEmail"`
			MasterAccountID    string `json:"MasterAccountId"`
		}
		m := s.org.management
		return map[string]any{"Organization": org{
			ID: s.org.id, Arn: fmt.Sprintf("arn:aws:organizations::%s:organization/%s", m, s.org.id),
			FeatureSet: "ALL", MasterAccountArn: fmt.Sprintf("arn:aws:organizations::%s:account/%s/%s", m, s.org.id, m),
			MasterAccountEmail: m + "@example.com", MasterAccountID: m,
		}}, nil
	case "ListAccounts":
		limit := 20
		if v := params.Get("MaxResults"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 20 {
				return nil, newError(http.StatusBadRequest, "InvalidInputException",
					"1 validation error detected: Value '%s' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 20", v)
			}
			limit = n
		}
		start := 0
		if v := params.Get("NextToken"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > len(s.org.accounts) {
				return nil, newError(http.StatusBadRequest, "InvalidInputException", "The NextToken is invalid.")
			}
			start = n
		}
		end := min(start+limit, len(s.org.accounts))
		type acct struct {
			ID              string  `json:"Id"`
			Arn             string  `json:"Arn"`
			Email           string  `json:"Email"`
			Name            string  `json:"Name"`
			Status          string  `json:"Status"`
			State           string  `json:"State"`
			JoinedMethod    string  `json:"JoinedMethod"`
			JoinedTimestamp float64 `json:"JoinedTimestamp"`
		}
		list := make([]acct, 0, end-start)
		for _, a := range s.org.accounts[start:end] {
			method := "CREATED"
			if a.ID == s.org.management {
				method = "INVITED"
			}
			list = append(list, acct{
				ID: a.ID, Arn: fmt.Sprintf("arn:aws:organizations::%s:account/%s/%s", s.org.management, s.org.id, a.ID),
				Email: a.Email, Name: a.Name, Status: a.Status, State: a.Status, JoinedMethod: method,
				JoinedTimestamp: float64(a.Joined.Unix()),
			})
		}
		out := map[string]any{"Accounts": list}
		if end < len(s.org.accounts) {
			out["NextToken"] = strconv.Itoa(end)
		}
		return out, nil
	}
	return nil, newError(http.StatusBadRequest, "UnknownOperationException", "Unknown operation %s", action)
}

func writeJSONResult(w http.ResponseWriter, requestID string, result any) {
	body, err := json.Marshal(result)
	if err != nil {
		writeJSONError(w, requestID, newError(http.StatusInternalServerError, "ServiceException", "awstest: encode: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// writeJSONError answers a JSON 1.1 error. Query-style codes injected as
// faults keep their names (Throttling, AccessDenied), which the SDK's retry
// and error handling read from __type as they read them from XML.
func writeJSONError(w http.ResponseWriter, requestID string, e *apiError) {
	body, _ := json.Marshal(map[string]string{"__type": e.Code, "message": e.Message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", requestID)
	w.Header().Set("X-Amzn-Errortype", e.Code)
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// serveOrganizations answers a JSON 1.1 request whose faults were applied
// (fail set by authentication or an injected fault).
func (s *Server) serveOrganizations(w http.ResponseWriter, requestID, action string, p *principal, params url.Values, fail *apiError) {
	if fail == nil {
		s.mu.Lock()
		var result any
		result, fail = s.organizations(action, p, params)
		s.mu.Unlock()
		if fail == nil {
			writeJSONResult(w, requestID, result)
			return
		}
	}
	if fail.Code == "AccessDenied" {
		fail = &apiError{Status: fail.Status, Code: "AccessDeniedException", Message: fail.Message}
	}
	writeJSONError(w, requestID, fail)
}
