package templates

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/bulkhead-dev/bulkhead/app/audit"
)

// eventView is an audit event's details, arranged for reading.
type eventView struct {
	Changes []change // before → after, for permission changes
	Fields  []keyValue
	Origin  string // client address and request id
}

type change struct{ Field, Before, After string }

type keyValue struct{ Key, Value string }

// describe arranges an event's details: a permission change shows only the
// fields that changed; where the request came from goes on a line of its own.
func describe(e audit.Event) eventView {
	var v eventView
	d := e.Details
	var origin []string
	if c, ok := d["client"].(string); ok && c != "" {
		origin = append(origin, "from "+c)
	}
	if r, ok := d["request_id"].(string); ok && r != "" {
		origin = append(origin, "request "+r)
	}
	v.Origin = strings.Join(origin, " · ")
	before, hasBefore := d["before"].(map[string]any)
	after, hasAfter := d["permissions"].(map[string]any)
	if hasBefore && hasAfter {
		for _, k := range sortedKeys(after) {
			if b, a := show(before[k]), show(after[k]); b != a {
				v.Changes = append(v.Changes, change{Field: k, Before: b, After: a})
			}
		}
		if len(v.Changes) == 0 {
			v.Fields = append(v.Fields, keyValue{"changes", "none"})
		}
	}
	for _, k := range sortedKeys(d) {
		switch k {
		case "client", "request_id", "before", "permissions":
			continue
		}
		v.Fields = append(v.Fields, keyValue{k, show(d[k])})
	}
	if hasAfter && !hasBefore {
		v.Fields = append(v.Fields, keyValue{"permissions", show(after)})
	}
	return v
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func show(v any) string {
	switch x := v.(type) {
	case nil:
		return "—"
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return Num(int64(x))
		}
		return fmt.Sprint(x)
	case bool:
		if x {
			return "on"
		}
		return "off"
	}
	b, _ := json.Marshal(v)
	return string(b)
}
