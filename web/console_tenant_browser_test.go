package web_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestTenantSectionsInBrowser walks a tenant's sections in headless
// Chromium as an administrator would: each section is its own short page
// with its tab marked; a token created with an expiry shows its date and a
// badge, and the tenant's Health warns about it; the SCIM base URL sits on
// one line with its Copy button, on a desktop and on a phone; and the
// glitches of the usage page and the inspector stay fixed.
func TestTenantSectionsInBrowser(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is not installed at %s: apt-get install chromium (.ci/run does it)", chromiumPath)
	}
	cs, meter := newMeteredConsole(t)
	ctx := context.Background()
	email, password := cs.newStaff(t, staff.RoleAdmin)
	_, _, err := cs.tenants.CreateTenant(ctx, tenant.NewTenant{ID: "acme", Name: "Acme Corporation", Plan: tenant.PlanTrial}, "cli")
	if err != nil {
		t.Fatal(err)
	}
	quiet, _, err := cs.tenants.CreateTenant(ctx, tenant.NewTenant{ID: "quiet", Name: "Quiet Co", Plan: tenant.PlanStartup}, "cli")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cs.tenants.SetStatus(ctx, quiet.ID, tenant.StatusSuspended, "cli"); err != nil {
		t.Fatal(err)
	}
	shotDir := t.TempDir()
	if *screenshots {
		shotDir = filepath.Join("..", "docs", "screenshots")
	}

	bctx := tenantChromium(t)
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		var s string
		run("read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
		return strings.Join(strings.Fields(s), " ")
	}
	shot := func(name string) {
		t.Helper()
		var buf []byte
		run("screenshot "+name, chromedp.FullScreenshot(&buf, 100))
		if err := os.WriteFile(filepath.Join(shotDir, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	height := func() float64 {
		t.Helper()
		var h float64
		run("measure the page", chromedp.Evaluate(`document.documentElement.scrollHeight`, &h))
		return h
	}
	// oneLine checks that a value and its Copy button sit side by side:
	// the button right of the value, their vertical centres within a few
	// pixels, and the value on a single line.
	oneLine := func(where, value, button string) {
		t.Helper()
		var r struct {
			V, B  map[string]float64
			Lines int
		}
		run("measure "+value, chromedp.Evaluate(fmt.Sprintf(`(() => {
			const box = s => { const r = document.querySelector(s).getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
			const text = document.createRange();
			text.selectNodeContents(document.querySelector(%q));
			return {V: box(%q), B: box(%q), Lines: new Set([...text.getClientRects()].map(r => Math.round(r.top))).size};
		})()`, value, value, button), &r))
		vMid, bMid := (r.V["top"]+r.V["bottom"])/2, (r.B["top"]+r.B["bottom"])/2
		if math.Abs(vMid-bMid) > 4 || r.B["left"] < r.V["right"] || r.Lines != 1 {
			t.Errorf("%s: %s at %v (%d lines of text) and its button at %v are not on one line", where, value, r.V, r.Lines, r.B)
		}
	}

	run("sign in",
		chromedp.Navigate(cs.srv.URL+"/admin/signin"),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, email, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		chromedp.Click(`form[action="/admin/signin"] button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=tenants]`, chromedp.ByQuery),
	)

	// A token that expires in 7 days: its date, a badge, and a Health warning.
	run("create a token that expires in 7 days",
		chromedp.Navigate(cs.srv.URL+"/admin/tenants/acme/tokens"),
		chromedp.WaitVisible(`#token-name`, chromedp.ByQuery),
		chromedp.SendKeys(`#token-name`, "Okta staging", chromedp.ByQuery),
		chromedp.SetValue(`#token-expires`, "7", chromedp.ByQuery),
		chromedp.Click(`[data-testid=create-token]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=new-token]`, chromedp.ByQuery),
	)
	if got := text(`[data-testid=new-token-expires]`); !strings.HasPrefix(got, "Expires in 7 days") {
		t.Errorf("the new token's expiry reads %q", got)
	}
	oneLine("new token box", `[data-testid=scim-base-url]`, `[data-testid=copy-new-base-url]`)
	oneLine("tokens section", `[data-testid=base-url]`, `[data-testid=copy-base-url]`)
	row := `[data-testid=tokens] tr:first-child`
	if got := text(row + ` [data-testid=token-expiring]`); got != "Expires in 7 days" {
		t.Errorf("badge of the expiring token %q", got)
	}
	if got, want := text(row+` [data-testid=token-expires-at] time`), time.Now().Add(7*24*time.Hour).UTC().Format("2 Jan 2006"); got != want {
		t.Errorf("Expires column %q, want %q", got, want)
	}
	if got := text(`[data-testid=tokens] tr:last-child [data-testid=token-expires-at]`); got != "Never" {
		t.Errorf("the first token expires %q, want Never", got)
	}
	shot("tenant-section-tokens-expiring")
	run("health", chromedp.Navigate(cs.srv.URL+"/admin/tenants/acme/health"), chromedp.WaitVisible(`[data-testid=tenant-checks]`, chromedp.ByQuery))
	if got := text(`[data-testid=tenant-checks]`); !strings.Contains(got, `"Okta staging"`) || !strings.Contains(got, "expires in 7 days") {
		t.Errorf("the health checks do not warn about the expiring token: %q", got)
	}

	// Every section by its tab: its own address, its tab marked, short.
	for _, s := range []struct{ tab, path, shows string }{
		{"overview", "", "[data-testid=overview]"},
		{"tokens", "/tokens", "[data-testid=tokens]"},
		{"permissions", "/permissions", "[data-testid=permissions-form]"},
		{"schema", "/schema", "[data-testid=schema-definition]"},
		{"health", "/health", "[data-testid=tenant-checks]"},
		{"audit", "/audit", "[data-testid=audit-see-all]"},
	} {
		run("open the "+s.tab+" tab",
			chromedp.Navigate(cs.srv.URL+"/admin/tenants/acme"),
			chromedp.WaitVisible(`[data-testid=tenant-tabs]`, chromedp.ByQuery),
			chromedp.Click(`[data-testid=`+s.tab+`-tab]`, chromedp.ByQuery),
			chromedp.WaitVisible(s.shows, chromedp.ByQuery),
		)
		var loc string
		run("read the address", chromedp.Location(&loc))
		if loc != cs.srv.URL+"/admin/tenants/acme"+s.path {
			t.Errorf("the %s tab opens %s", s.tab, loc)
		}
		if got := text(`[data-testid=tenant-tabs] a[aria-current=page]`); !strings.EqualFold(strings.Fields(got)[0], strings.Fields(text(`[data-testid=` + s.tab + `-tab]`))[0]) {
			t.Errorf("on %s the tab marked current is %q", s.tab, got)
		}
		if h := height(); h > 1500 {
			t.Errorf("the %s section is %.0f px long, want a short page", s.tab, h)
		}
		shot("tenant-section-" + s.tab)
	}

	// The overview of a fresh 14-day trial: it ends in 14 days.
	run("overview", chromedp.Navigate(cs.srv.URL+"/admin/tenants/acme"), chromedp.WaitVisible(`[data-testid=trial-ends]`, chromedp.ByQuery))
	if got := text(`[data-testid=trial-ends]`); got != "in 14 days" {
		t.Errorf("a 14-day trial created now ends %q, want in 14 days", got)
	}
	oneLine("overview", `[data-testid=base-url]`, `[data-testid=copy-base-url]`)

	// On a phone the base URL and its button still share a line.
	run("phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(cs.srv.URL+"/admin/tenants/acme/tokens"), chromedp.WaitVisible(`[data-testid=base-url]`, chromedp.ByQuery))
	oneLine("tokens section on a phone", `[data-testid=base-url]`, `[data-testid=copy-base-url]`)
	var wide struct{ Page, Screen float64 }
	run("measure the page's width", chromedp.Evaluate(`({Page: document.documentElement.scrollWidth, Screen: window.innerWidth})`, &wide))
	if wide.Page > wide.Screen {
		t.Errorf("on a phone the tokens section is %.0f px wide on a %.0f px screen", wide.Page, wide.Screen)
	}
	shot("tenant-section-tokens-phone")
	run("desktop", chromedp.EmulateViewport(1280, 900))

	// Traffic: 13 requests, 4 of them refused (two conflicts, a 404, a bad filter).
	tok, err := cs.tenants.CreateToken(ctx, "acme", "traffic", nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	token := tok.Secret
	for i := range 9 {
		if st, _ := cs.scim(t, "acme", token, "POST", "/Users", user(fmt.Sprintf("u%d@acme.test", i))); st != http.StatusCreated {
			t.Fatalf("SCIM create: %d", st)
		}
	}
	for range 2 {
		if st, _ := cs.scim(t, "acme", token, "POST", "/Users", user("u0@acme.test")); st != http.StatusConflict {
			t.Fatalf("SCIM duplicate: %d", st)
		}
	}
	if st, _ := cs.scim(t, "acme", token, "GET", "/Users/"+strings.Repeat("0123456789abcdef", 6), nil); st != http.StatusNotFound {
		t.Fatalf("SCIM get unknown: %d", st)
	}
	// A long filter that fails: its path is one long word in the inspector.
	long := "/Users?filter=" + q(`userName eq "`+strings.Repeat("averyveryverylongname", 12)+`@acme.test" and (title zz "x")`)
	if st, _ := cs.scim(t, "acme", token, "GET", long, nil); st != http.StatusBadRequest {
		t.Fatalf("SCIM bad filter: %d", st)
	}
	if err := meter.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	run("usage", chromedp.Navigate(cs.srv.URL+"/admin/tenants/acme/usage"), chromedp.WaitVisible(`svg[data-testid=chart]`, chromedp.ByQuery))
	if got := text(`[data-testid=usage-per-day]`); got != "13 a day on average" {
		t.Errorf("13 requests on the tenant's first day: %q", got)
	}
	if got := text(`[data-testid=usage-error-rate]`); got != "30.8%" {
		t.Errorf("error rate %q", got)
	}
	if got := text(`[data-testid=usage-judgement]`); got != "Too few requests to judge the error rate (13 of at least 20 in the last hour)" {
		t.Errorf("no word on the sample beside the error rate: %q", got)
	}
	var charts []struct {
		Label  string
		Y, X   []string
		Points int
	}
	run("read the charts", chromedp.Evaluate(`[...document.querySelectorAll('svg[data-testid=chart]')].map(svg => ({
		Label: svg.getAttribute('aria-label'),
		Y: [...svg.querySelectorAll('text[text-anchor=end]')].map(t => t.textContent),
		X: [...svg.querySelectorAll('text[text-anchor=middle]')].map(t => t.textContent),
	}))`, &charts))
	if len(charts) < 3 {
		t.Fatalf("%d charts", len(charts))
	}
	perDay, latency := charts[0], charts[2]
	if !strings.HasPrefix(latency.Label, "Latency") {
		t.Fatalf("third chart is %q", latency.Label)
	}
	if strings.Join(latency.X, ",") != strings.Join(perDay.X, ",") {
		t.Errorf("the latency chart spans %v, the requests chart beside it %v", latency.X, perDay.X)
	}
	for _, c := range charts {
		var step float64
		for i, l := range c.Y {
			v, err := strconv.ParseFloat(strings.TrimSuffix(strings.ReplaceAll(l, ",", ""), " ms"), 64)
			if err != nil {
				t.Errorf("%s: y label %q", c.Label, l)
				continue
			}
			if i == 1 {
				step = v
			}
			if i > 0 && math.Abs(v-step*float64(i)) > 1e-9 {
				t.Errorf("%s: y labels %v are not even steps", c.Label, c.Y)
			}
			if d := v / math.Pow(10, math.Floor(math.Log10(math.Max(step, 1e-9)))); i == 1 && d != 1 && d != 2 && d != 5 {
				t.Errorf("%s: y labels %v are not round", c.Label, c.Y)
			}
		}
	}
	shot("tenant-usage")

	// The inspector's table fits a 1,400 px window.
	run("inspector", chromedp.EmulateViewport(1400, 900), chromedp.Navigate(cs.srv.URL+"/admin/tenants/acme/requests"), chromedp.WaitVisible(`[data-testid=failed-requests]`, chromedp.ByQuery))
	var clip struct{ Scroll, Client float64 }
	run("open the bodies", chromedp.Evaluate(`document.querySelectorAll('[data-testid=failed-requests] details').forEach(d => d.open = true)`, nil))
	run("measure the inspector", chromedp.Evaluate(`(() => { const w = document.querySelector('[data-testid=failed-requests]').closest('.table-wrap'); return {Scroll: w.scrollWidth, Client: w.clientWidth}; })()`, &clip))
	if clip.Scroll > clip.Client+1 {
		t.Errorf("the inspector's table is %.0f px wide in a %.0f px box: clipped", clip.Scroll, clip.Client)
	}
	shot("tenant-requests-1400")
	run("desktop", chromedp.EmulateViewport(1280, 900))

	// A tenant with no traffic on a metered server: no word of metering
	// being off; and "Suspended" said once.
	run("quiet usage", chromedp.Navigate(cs.srv.URL+"/admin/tenants/quiet/usage"), chromedp.WaitVisible(`[data-testid=empty]`, chromedp.ByQuery))
	if got := text(`main`); !strings.Contains(got, "No SCIM requests yet") || strings.Contains(got, "does not meter") {
		t.Errorf("a tenant without traffic reads as unmetered: %.400s", got)
	}
	if got := text(`.page-head`); strings.Count(got, "Suspended") != 1 {
		t.Errorf("the head says %q: Suspended twice", got)
	}
	shot("tenant-quiet-usage")
}

// tenantChromium starts headless Chromium for one test and returns its
// context, ended with the test.
func tenantChromium(t *testing.T) context.Context {
	t.Helper()
	profile, err := os.MkdirTemp("", "bulkhead-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	t.Cleanup(func() {
		cancel()
		cancelBrowser()
		cancelAlloc()
		os.RemoveAll(profile)
	})
	return ctx
}
