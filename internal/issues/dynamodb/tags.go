package dynamodb

import (
	"reflect"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/issues"
)

// The user's tags are kept where Hammer keeps tags: issue_details.tags, a
// map of strings. issues.Issue.Tags is being added alongside this store, so
// it is reached by name until both have landed; then replace these two
// functions by plain field access.

func tagsOf(is *issues.Issue) map[string]string {
	f := reflect.ValueOf(is).Elem().FieldByName("Tags")
	if !f.IsValid() {
		return nil
	}
	m, _ := f.Interface().(map[string]string)
	return m
}

func setTags(is *issues.Issue, m map[string]string) {
	f := reflect.ValueOf(is).Elem().FieldByName("Tags")
	if f.IsValid() && m != nil && f.Type() == reflect.TypeOf(m) {
		f.Set(reflect.ValueOf(m))
	}
}

func encodeTags(details map[string]types.AttributeValue, is *issues.Issue) {
	tags := tagsOf(is)
	if len(tags) == 0 {
		return
	}
	m := make(map[string]types.AttributeValue, len(tags))
	for k, v := range tags {
		m[k] = str(v)
	}
	details["tags"] = &types.AttributeValueMemberM{Value: m}
}

func decodeTags(details map[string]types.AttributeValue, is *issues.Issue) {
	m := getM(details, "tags")
	if len(m) == 0 {
		return
	}
	tags := make(map[string]string, len(m))
	for k := range m {
		tags[k] = getS(m, k)
	}
	setTags(is, tags)
}
