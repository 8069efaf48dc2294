package scim

import (
	"strconv"
	"strings"
	"time"
)

// Resource is a User or Group as stored: the attributes a client gave
// (normalized, without id, meta, password and members), plus what the server
// owns.
type Resource struct {
	Type         *ResourceType
	ID           string
	Version      int64
	Created      time.Time
	LastModified time.Time
	// data holds the attributes (Attributes returns them). A resource
	// read for display (ReadResource, FindResources) holds them as stored
	// instead, and data is nil until Attributes decodes them.
	data map[string]any
	// Members holds a Group's members, or a User's groups (its direct
	// memberships). It is nil when they were not loaded.
	Members []Member

	stored []byte // the attributes as read, jsonb text, when data is nil
}

// Member is one membership: a member of a group, or a group of a user. It
// is read as a row (db) and as an element of the JSON array findResources
// selects (json).
type Member struct {
	Value   string  `db:"value" json:"value"`     // the member's (or the group's) id
	Type    string  `db:"type" json:"type"`       // "User" or "Group" for members; "direct" for a user's groups
	Display *string `db:"display" json:"display"` // the member's display name, when it has one
}

// ETag returns the resource's entity tag, a weak validator that changes on
// every write (RFC 7644 §3.14).
func (r *Resource) ETag() string { return `W/"` + strconv.FormatInt(r.Version, 10) + `"` }

// Render returns the full SCIM representation of r: its attributes with
// schemas, id and meta, and members (or groups) with their $ref. baseURL is
// the tenant's SCIM base URL, without a trailing slash. A resource read as
// stored is decoded first (Attributes); were its text not to decode (not
// an object, or a number beyond float64, which Bulkhead never writes),
// Render would leave its attributes out, where AppendJSON returns the error.
func (r *Resource) Render(baseURL string) map[string]any {
	data, _ := r.Attributes()
	return r.render(data, baseURL)
}

// render is Render with the attributes data.
func (r *Resource) render(data map[string]any, baseURL string) map[string]any {
	out := make(map[string]any, len(data)+4)
	for k, v := range data {
		out[k] = v
	}
	schemas := []any{r.Type.Schema}
	for _, ext := range r.Type.SchemaExtensions {
		if _, ok := data[ext.Schema]; ok {
			schemas = append(schemas, ext.Schema)
		}
	}
	out["schemas"] = schemas
	out["id"] = r.ID
	out["meta"] = map[string]any{
		"resourceType": r.Type.Name,
		"created":      r.Created.UTC().Format(time.RFC3339Nano),
		"lastModified": r.LastModified.UTC().Format(time.RFC3339Nano),
		"location":     baseURL + r.Type.Endpoint + "/" + r.ID,
		"version":      r.ETag(),
	}
	if len(r.Members) > 0 {
		list := make([]any, len(r.Members))
		for i, m := range r.Members {
			e := map[string]any{"value": m.Value, "type": m.Type}
			if m.Display != nil {
				e["display"] = *m.Display
			}
			endpoint := "/Groups/"
			if m.Type == "User" {
				endpoint = "/Users/"
			}
			e["$ref"] = baseURL + endpoint + m.Value
			list[i] = e
		}
		out[r.Type.MembershipsAttr()] = list
	}
	return out
}

// MembershipsAttr returns the attribute that holds rt's memberships
// (Resource.Members): a Group's members, a User's groups. Reading them costs
// a join, so readers load them only when a projection includes it.
func (rt *ResourceType) MembershipsAttr() string {
	if rt.Is(GroupResource) {
		return "members"
	}
	return "groups"
}

// IfMatchVersion reads an If-Match value (a header, or a Bulk operation's
// version) as the version a write requires: 0 (any) when empty or "*", the
// version of the first W/"n" or "n" tag, and -1, which matches nothing,
// when no tag is well-formed.
func IfMatchVersion(h string) int64 {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return 0
	}
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if n, err := strconv.ParseInt(strings.Trim(tag, `"`), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return -1
}
