package web_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bulkhead-dev/bulkhead/app/activity"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestActivityInBrowser opens a tenant's activity feed in headless
// Chromium as support, sends SCIM requests to the tenant while the page is
// open, and sees them appear without reloading: a write, then a request
// with a revoked token, shown by its prefix and why it failed.
func TestActivityInBrowser(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is not installed at %s: apt-get install chromium (.ci/run does it)", chromiumPath)
	}
	ac := newActivityConsole(t, activity.DefaultFlushEvery)
	rctx, stopRecorder := context.WithCancel(context.Background())
	defer stopRecorder()
	go ac.rec.Run(rctx) // as serve runs it: a flush every half second
	tn, tok := ac.createTenant(t, tenant.PlanEnterprise)
	revoked, err := ac.tenants.CreateToken(context.Background(), tn.ID, "old", nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.tenants.RevokeToken(context.Background(), tn.ID, revoked.ID.String(), "test"); err != nil {
		t.Fatal(err)
	}
	email, password := ac.newStaff(t, staff.RoleSupport)

	profile, err := os.MkdirTemp("", "bulkhead-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}

	run("sign in as support",
		chromedp.Navigate(ac.srv.URL+"/admin/"),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, email, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		chromedp.Click(`form[action="/admin/signin"] button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=tenants]`, chromedp.ByQuery),
	)
	run("open the tenant, then its activity tab",
		chromedp.Navigate(ac.srv.URL+"/admin/tenants/"+tn.ID),
		chromedp.Click(`[data-testid=activity-tab]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=activity-live] .badge-ok`, chromedp.ByQuery), // "Live": the stream is open
	)
	var rows int
	run("count entries", chromedp.Evaluate(`document.querySelectorAll("[data-testid=activity-entry]").length`, &rows))
	if rows != 0 {
		t.Fatalf("a new tenant's feed has %d entries", rows)
	}

	// While the page stays open: a write, then the IdP's revoked token.
	if status, _ := ac.scim(t, tn.ID, tok, "POST", "/Users", user("live.one@example.com")); status != http.StatusCreated {
		t.Fatalf("create: %d", status)
	}
	run("the write appears live", chromedp.WaitVisible(`[data-testid=activity-entry][data-kind=write]`, chromedp.ByQuery))
	if res, _ := ac.rawSCIM(t, "/tenants/"+tn.ID+"/scim/v2/Users", "Bearer "+revoked.Secret); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", res.StatusCode)
	}
	run("the 401 appears live", chromedp.WaitVisible(`[data-testid=activity-entry][data-kind=auth]`, chromedp.ByQuery))

	var first, credential, body string
	run("read the newest entry",
		chromedp.Text(`[data-testid=activity-entry]`, &first, chromedp.ByQuery),
		chromedp.Text(`[data-testid=activity-entry] [data-testid=activity-credential]`, &credential, chromedp.ByQuery),
		chromedp.OuterHTML(`main`, &body, chromedp.ByQuery),
	)
	if strings.TrimSpace(credential) != revoked.Prefix || !strings.Contains(first, "Revoked token") {
		t.Errorf("newest entry %q, credential %q: want the revoked token's prefix %s and why", first, credential, revoked.Prefix)
	}
	if strings.Contains(body, revoked.Secret) || strings.Contains(body, "live.one") {
		t.Error("the page shows a secret or personal data")
	}
	if *screenshots {
		var buf []byte
		run("screenshot", chromedp.FullScreenshot(&buf, 100))
		if err := os.WriteFile(filepath.Join("..", "docs", "screenshots", "tenant-activity.png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
