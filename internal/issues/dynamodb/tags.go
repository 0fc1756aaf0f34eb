package dynamodb

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/issues"
)

// The user's tags are kept where Hammer keeps tags: issue_details.tags, a
// map of strings, left out when there are none (and read back as nil).

func encodeTags(details map[string]types.AttributeValue, is *issues.Issue) {
	if len(is.Tags) == 0 {
		return
	}
	m := make(map[string]types.AttributeValue, len(is.Tags))
	for k, v := range is.Tags {
		m[k] = str(v)
	}
	details["tags"] = &types.AttributeValueMemberM{Value: m}
}

func decodeTags(details map[string]types.AttributeValue, is *issues.Issue) {
	m := getM(details, "tags")
	if len(m) == 0 {
		return
	}
	is.Tags = make(map[string]string, len(m))
	for k := range m {
		is.Tags[k] = getS(m, k)
	}
}
