package web_test

import (
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestCreateTenantFieldErrors proves the console form and the admin API
// refuse the same bad input with the same message for each field, both
// coming from tenant.NewTenant.Validate (cmd/bulkhead's
// TestTenantCreateFieldErrors checks the CLI against the same messages).
func TestCreateTenantFieldErrors(t *testing.T) {
	t.Parallel()
	cs := sharedConsole(t)
	b := cs.signedIn(t, staff.RoleAdmin)
	key := cs.apiKey(t, staff.RoleAdmin)
	taken, _ := cs.createTenant(t, tenant.PlanStartup)

	for _, tt := range []struct {
		name   string
		in     map[string]string // form field or JSON key → value
		status int
		want   map[string]string
	}{
		{"ErrNameTooLong", map[string]string{"name": strings.Repeat("n", 201)}, 400,
			map[string]string{"name": "the tenant's name has 201 characters; at most 200 are allowed"}},
		{"ErrNegativeMaxUsers", map[string]string{"max_users": "-1"}, 400,
			map[string]string{"max_users": "Must be 0 or more."}},
		{"ErrUnknownPlan", map[string]string{"plan": "gold"}, 400,
			map[string]string{"plan": "Choose one of the plans: enterprise, startup or trial."}},
		{"ErrAllAtOnce", map[string]string{"id": "Bad Id", "plan": "gold", "max_groups": "3000000000"}, 400,
			map[string]string{
				"id":         "Use a lowercase letter first, then up to 39 lowercase letters, digits or underscores.",
				"plan":       "Choose one of the plans: enterprise, startup or trial.",
				"max_groups": "Must be at most 2,000,000,000.",
			}},
		{"ErrIDTaken", map[string]string{"id": taken.ID}, 409,
			map[string]string{"id": "A tenant with the id " + taken.ID + " already exists. Choose another id."}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := map[string]string{"id": uniq("fe"), "plan": "startup"}
			for k, v := range tt.in {
				in[k] = v
			}

			t.Run("Console", func(t *testing.T) {
				form := url.Values{}
				for k, v := range in {
					form.Set(k, v)
				}
				p := b.post("/admin/tenants", form).must(t, tt.status)
				for field, want := range tt.want {
					if got := strings.TrimSpace(p.Doc.Find(`#h-` + field + `.error`).Text()); got != want {
						t.Errorf("beside %s: %q, want %q", field, got, want)
					}
				}
				if n := p.Doc.Find(`.error[id^=h-]`).Length(); n != len(tt.want) {
					t.Errorf("%d fields carry a message, want %d", n, len(tt.want))
				}
			})

			t.Run("API", func(t *testing.T) {
				body := map[string]any{}
				for k, v := range in {
					body[k] = v
					if n, err := strconv.Atoi(v); err == nil && strings.HasPrefix(k, "max_") {
						body[k] = n
					}
				}
				status, got := cs.api(t, key, "POST", "/tenants", body)
				fields := map[string]string{}
				for k, v := range got["fields"].(map[string]any) {
					fields[k], _ = v.(string)
				}
				if status != tt.status || got["error"] == "" || !reflect.DeepEqual(fields, tt.want) {
					t.Errorf("%d %v, want %d with fields %v", status, got, tt.status, tt.want)
				}
			})
		})
	}
}
