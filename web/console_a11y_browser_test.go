package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

// axePath is axe-core as pinned in web/testdata/axe/package-lock.json;
// make test installs it (npm ci) when it is missing.
const axePath = "testdata/axe/node_modules/axe-core/axe.min.js"

// a11yPages are the console pages checked for accessibility, signed in as
// role: every page that role can open, with the seeded tenants of
// seedTenants. Add a page here when you add one to the console.
func a11yPages(role string) []string {
	pages := []string{
		"/admin/tenants",
		"/admin/tenants?sort=users&page=1",
		"/admin/tenants?q=nothing-matches",
		"/admin/tenants/stark",
		"/admin/tenants/stark/tokens",
		"/admin/tenants/stark/permissions",
		"/admin/tenants/stark/schema",
		"/admin/tenants/stark/health",
		"/admin/tenants/stark/audit",
		"/admin/tenants/stark/usage",
		"/admin/tenants/stark/requests",
		"/admin/tenants/stark/activity",
		"/admin/tenants/hooli",
		"/admin/health",
		"/admin/audit",
		"/admin/audit?tenant=stark&limit=3",
		"/admin/audit?tenant=nosuch",
		"/admin/account",
		"/admin/no-such-page",
	}
	if role == staff.RoleAdmin {
		pages = append(pages, "/admin/tenants/new", "/admin/tenants/globex/delete", "/admin/staff")
	}
	return pages
}

// TestConsoleAccessibility runs axe-core on every console page, signed out
// (the sign-in page), as an administrator and as support, and fails on any
// violation of WCAG 2.0/2.1 A and AA.
func TestConsoleAccessibility(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is not installed at %s: apt-get install chromium (.ci/run does it)", chromiumPath)
	}
	axe, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatalf("axe-core is not installed: run make test, or npm ci --prefix web/testdata/axe (%v)", err)
	}
	db := storetest.NewDB(t)
	m := newMeter(t, db)
	cs := newConsoleServer(t, db, m, m.wrap)
	seedTenants(t, cs)

	ctx := startChromium(t)
	checkA11y(t, ctx, axe, cs.srv.URL+"/admin/signin")
	for _, role := range []string{staff.RoleAdmin, staff.RoleSupport} {
		email, password := cs.newStaff(t, role)
		if err := chromedp.Run(ctx,
			chromedp.Navigate(cs.srv.URL+"/admin/signin"),
			chromedp.WaitVisible(`#email`, chromedp.ByQuery),
			chromedp.SendKeys(`#email`, email, chromedp.ByQuery),
			chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
			chromedp.Click(`form[action="/admin/signin"] button[type=submit]`, chromedp.ByQuery),
			chromedp.WaitVisible(`[data-testid=role]`, chromedp.ByQuery),
		); err != nil {
			t.Fatalf("sign in as %s: %v", role, err)
		}
		for _, path := range a11yPages(role) {
			t.Run(role+path, func(t *testing.T) { checkA11y(t, ctx, axe, cs.srv.URL+path) })
		}
		if err := chromedp.Run(ctx, chromedp.Click(`form[action="/admin/signout"] button`, chromedp.ByQuery),
			chromedp.WaitVisible(`#email`, chromedp.ByQuery)); err != nil {
			t.Fatalf("sign out: %v", err)
		}
	}
}

// axeViolation is what the test reports of one axe-core violation.
type axeViolation struct {
	ID      string   `json:"id"`
	Impact  string   `json:"impact"`
	Help    string   `json:"help"`
	Targets []string `json:"targets"`
	Summary string   `json:"summary"`
}

// checkA11y opens url in the browser of ctx, injects axe-core and fails t
// with every violation of the WCAG 2.0 and 2.1 A and AA rules, each with
// the elements it concerns and axe's summary of how to fix it.
func checkA11y(t *testing.T, ctx context.Context, axe []byte, url string) {
	t.Helper()
	const run = `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, resultTypes: ["violations"]})
		.then(r => JSON.stringify(r.violations.flatMap(v => v.nodes.map(n => ({
			id: v.id, impact: n.impact || v.impact || "", help: v.help,
			targets: n.target.map(String), summary: n.failureSummary || ""})))))`
	var out string
	err := chromedp.Run(ctx,
		chromedp.Navigate(url),
		chromedp.WaitReady(`body`, chromedp.ByQuery),
		chromedp.Evaluate(string(axe), nil),
		chromedp.Evaluate(run, &out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
	)
	if err != nil {
		t.Fatalf("axe on %s: %v", url, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatalf("axe on %s: %v", url, err)
	}
	if len(vs) == 0 {
		return
	}
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "\n  %s (%s): %s\n    at %s\n    %s", v.ID, v.Impact, v.Help, strings.Join(v.Targets, ", "),
			strings.ReplaceAll(v.Summary, "\n", "\n    "))
	}
	t.Errorf("%s: %d accessibility violations:%s", url, len(vs), b.String())
}
