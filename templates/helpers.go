package templates

import (
	"strconv"
	"strings"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/activity"
	"github.com/bulkhead-dev/bulkhead/app/health"
	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
)

func joinReasons(h insight.TenantHealth) string {
	if len(h.Reasons) == 0 {
		return "nothing needs attention"
	}
	return strings.Join(h.Reasons, "; ")
}

// shortReasons are the badge labels of insight.Assess's reasons; the full
// reasons show on hover.
var shortReasons = map[string]string{
	"suspended":                           "Suspended",
	"trial expired":                       "Trial expired",
	"trial ends in under 3 days":          "Trial ending",
	"no usable SCIM token":                "No token",
	"schema behind: run bulkhead migrate": "Schema behind",
	"users at 90% of quota or more":       "Near user quota",
	"groups at 90% of quota or more":      "Near group quota",
}

// healthLabel names the worst of a tenant's problems in a word or two.
func healthLabel(h insight.TenantHealth) string {
	if h.Level == health.OK {
		return "Healthy"
	}
	if len(h.Reasons) == 0 {
		return levelLabel(h.Level)
	}
	label := capitalize(h.Reasons[0])
	if s, ok := shortReasons[h.Reasons[0]]; ok {
		label = s
	}
	if len(h.Reasons) > 1 {
		label += " +" + strconv.Itoa(len(h.Reasons)-1)
	}
	return label
}

func levelLabel(level health.Level) string {
	switch level {
	case health.OK:
		return "OK"
	case health.Warn:
		return "Warning"
	case health.Fail:
		return "Failing"
	}
	return "Not measured"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Plural returns one when n is 1, else many.
func Plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func filteredNote(filtered bool) string {
	if filtered {
		return " match"
	}
	return ""
}

// lastActivity is the last SCIM activity of a tenant: from usage metering
// when it is on, else the last use of any of its tokens.
func lastActivity(r TenantRow) *time.Time {
	if r.Stats.LastActivity != nil {
		return r.Stats.LastActivity
	}
	return r.Tenant.LastTokenUse
}

// overall is the worst level of the report's checks that measure
// something: an info check (SCIM traffic) does not make the system "info".
func overall(r *insight.HealthReport) health.Level {
	level := health.OK
	for _, c := range r.Checks {
		if c.Level != health.Info {
			level = health.Worse(level, c.Level)
		}
	}
	return level
}

func took(c insight.Check) string {
	if c.Took == 0 {
		return "—"
	}
	if c.Took < time.Millisecond {
		return strconv.FormatFloat(float64(c.Took.Microseconds())/1000, 'f', 2, 64) + " ms"
	}
	return strconv.FormatFloat(float64(c.Took.Microseconds())/1000, 'f', 1, 64) + " ms"
}

// checkName turns a check's key ("error_rate") into words ("Error rate").
func checkName(name string) string { return capitalize(strings.ReplaceAll(name, "_", " ")) }

// ariaBool renders a boolean ARIA state such as aria-invalid: "true" or
// "false" (an empty value would mean false, and CSS could not select it).
func ariaBool(b bool) string { return strconv.FormatBool(b) }

// activityReasons say in words why a request of the activity feed was
// refused.
var activityReasons = map[string]string{
	activity.ReasonNoCredential:  "No bearer token sent",
	activity.ReasonMalformed:     "Not a Bulkhead token or a JWT",
	activity.ReasonUnknownToken:  "Unknown token",
	activity.ReasonRevokedToken:  "Revoked token",
	activity.ReasonExpiredToken:  "Expired token",
	activity.ReasonWrongTenant:   "A credential of another tenant",
	activity.ReasonUnknownIssuer: "JWT issuer not registered for this tenant",
	activity.ReasonExpiredJWT:    "Expired JWT",
	activity.ReasonRejectedJWT:   "JWT refused (signature, audience or claims)",
	activity.ReasonRejected:      "Credential refused at this URL",
	usage.RefusalPermission:      "Not permitted",
	usage.RefusalQuota:           "Over quota",
	usage.RefusalSuspended:       "Tenant suspended",
	usage.RefusalRateLimit:       "Rate limited",
}

func activityReason(code string) string {
	if s, ok := activityReasons[code]; ok {
		return s
	}
	return code
}

// tenantTab is one entry of the tab bar of a tenant's pages.
type tenantTab struct{ Section, Label string }

// tenantTabs are the sections of a tenant's pages, in the tab bar's order:
// those of the tenant page itself, and the usage, failed-request and
// activity pages, which have handlers of their own.
var tenantTabs = []tenantTab{
	{SectionOverview, "Overview"},
	{SectionTokens, "Connection and tokens"},
	{SectionPermissions, "Permissions"},
	{SectionSchema, "Schema"},
	{SectionHealth, "Health"},
	{"usage", "Usage"},
	{"requests", "Failed requests"},
	{"activity", "Activity"},
	{SectionAudit, "Audit"},
}

// headHealth is the health badge beside a tenant's status badge, without
// the "suspended" the status badge already says; ok is false when nothing
// else is left to say, so that a page does not show "Suspended" twice.
func headHealth(t *tenant.TenantSummary, h insight.TenantHealth) (insight.TenantHealth, bool) {
	if t.Status != tenant.StatusSuspended {
		return h, true
	}
	out := insight.TenantHealth{Level: h.Level}
	for _, r := range h.Reasons {
		if r != "suspended" {
			out.Reasons = append(out.Reasons, r)
		}
	}
	return out, len(out.Reasons) > 0
}

// TokenExpiry is one choice of the create-token form's expiry.
type TokenExpiry struct{ Value, Label string }

// TokenExpiryChoices are the expiries the console offers for a new token:
// the value is a number of days, empty for never.
var TokenExpiryChoices = []TokenExpiry{
	{"", "Never expires"},
	{"7", "Expires in 7 days"},
	{"30", "Expires in 30 days"},
	{"90", "Expires in 90 days"},
	{"365", "Expires in 365 days"},
}

// ms writes a duration in milliseconds.
func ms(n int) string { return Num(n) + " ms" }
