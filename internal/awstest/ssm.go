package awstest

import (
	"net/http"
	"net/url"
)

// SSM Parameter Store over JSON 1.1 (X-Amz-Target: AmazonSSM.GetParameter):
// enough for the Lambda to read its configuration files from parameters.
const ssmTargetPrefix = "AmazonSSM."

// PutParameter stores an SSM parameter (SecureString or String alike).
func (s *Server) PutParameter(name, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ssm == nil {
		s.ssm = map[string]string{}
	}
	s.ssm[name] = value
}

// serveSSM answers GetParameter; fail is an authentication error or an
// injected fault.
func (s *Server) serveSSM(w http.ResponseWriter, requestID, action string, params url.Values, fail *apiError) {
	if fail == nil {
		switch action {
		case "GetParameter":
			name := params.Get("Name")
			s.mu.Lock()
			v, ok := s.ssm[name]
			s.mu.Unlock()
			if !ok {
				fail = newError(http.StatusBadRequest, "ParameterNotFound", "Parameter %s not found.", name)
				break
			}
			writeJSONResult(w, requestID, map[string]any{"Parameter": map[string]any{
				"Name": name, "Type": "SecureString", "Value": v, "Version": 1, "DataType": "text"}})
			return
		default:
			fail = newError(http.StatusBadRequest, "InvalidAction", "awstest: SSM action %s is not implemented", action)
		}
	}
	if fail.Code == "AccessDenied" {
		fail = &apiError{Status: fail.Status, Code: "AccessDeniedException", Message: fail.Message}
	}
	writeJSONError(w, requestID, fail)
}
