package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

// TestConsoleStaffInBrowser: an administrator creates a support account in
// the console, the support person signs in, the administrator disables the
// account and the support person's next click lands on the sign-in page;
// then the administrator changes their own password and signs in with it.
func TestConsoleStaffInBrowser(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is not installed at %s: apt-get install chromium (.ci/run does it)", chromiumPath)
	}
	cs := newConsoleServer(t, storetest.NewDB(t), nil, nil)
	adminEmail, adminPassword := cs.newStaff(t, staff.RoleAdmin)
	shotDir := t.TempDir()
	if *screenshots {
		shotDir = filepath.Join("..", "docs", "screenshots")
	}

	// The administrator and the support person: two browsers, each with
	// its own profile and cookies.
	admin := startChromium(t)
	support := startChromium(t)
	chromedp.ListenTarget(admin, func(ev any) {
		if _, ok := ev.(*cdppage.EventJavascriptDialogOpening); ok {
			go func() { _ = chromedp.Run(admin, cdppage.HandleJavaScriptDialog(true)) }()
		}
	})

	run := func(ctx context.Context, step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		var s string
		run(ctx, "read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
		return strings.Join(strings.Fields(s), " ")
	}
	shot := func(name string) {
		t.Helper()
		var buf []byte
		run(admin, "screenshot "+name, chromedp.FullScreenshot(&buf, 100))
		if err := os.WriteFile(filepath.Join(shotDir, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	signIn := func(ctx context.Context, email, password string) {
		t.Helper()
		run(ctx, "sign in as "+email,
			chromedp.Navigate(cs.srv.URL+"/admin/signin"),
			chromedp.WaitVisible(`#email`, chromedp.ByQuery),
			chromedp.SendKeys(`#email`, email, chromedp.ByQuery),
			chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
			chromedp.Click(`form[action="/admin/signin"] button[type=submit]`, chromedp.ByQuery),
			chromedp.WaitVisible(`[data-testid=role]`, chromedp.ByQuery),
		)
	}

	signIn(admin, adminEmail, adminPassword)
	const supportEmail, supportPassword = "helpdesk@example.test", "a long support password"
	run(admin, "create a support account",
		chromedp.Click(`nav a[href="/admin/staff"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=new-staff-form]`, chromedp.ByQuery),
		chromedp.SendKeys(`#f-email`, supportEmail, chromedp.ByQuery),
		chromedp.SetValue(`#f-role`, "support", chromedp.ByQuery),
		chromedp.SendKeys(`#f-password`, supportPassword, chromedp.ByQuery),
		chromedp.Click(`[data-testid=create-staff]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=flash]`, chromedp.ByQuery),
	)
	if got := text(admin, `[data-testid=flash]`); got != "Created support account "+supportEmail+"." {
		t.Errorf("flash %q", got)
	}
	row := `[data-testid=staff-row][data-email="` + supportEmail + `"]`
	if got := text(admin, row+` [data-testid=staff-state]`); got != "Active" {
		t.Errorf("new account's state %q", got)
	}

	signIn(support, supportEmail, supportPassword)
	if got := text(support, `[data-testid=role]`); !strings.EqualFold(got, "support") {
		t.Fatalf("support signed in with role %q", got)
	}
	shot("staff")

	run(admin, "disable the support account",
		chromedp.Click(row+` [data-testid=staff-action-disable]`, chromedp.ByQuery),
		chromedp.WaitVisible(row+` [data-testid=staff-action-enable]`, chromedp.ByQuery),
	)
	if got := text(admin, `[data-testid=flash]`); got != "Disabled "+supportEmail+": signed out, API keys revoked." {
		t.Errorf("flash %q", got)
	}
	var url string
	run(support, "the support person's next click",
		chromedp.Navigate(cs.srv.URL+"/admin/health"),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.Location(&url),
	)
	if !strings.Contains(url, "/admin/signin") {
		t.Errorf("a disabled account's next click lands on %s", url)
	}

	const newPassword = "the admin's new password"
	run(admin, "change my password",
		chromedp.Click(`nav a[href="/admin/account"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=password-form]`, chromedp.ByQuery),
		chromedp.SendKeys(`#f-current`, adminPassword, chromedp.ByQuery),
		chromedp.SendKeys(`#f-new`, newPassword, chromedp.ByQuery),
		chromedp.SendKeys(`#f-confirm`, newPassword, chromedp.ByQuery),
		chromedp.Click(`[data-testid=change-password]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=flash]`, chromedp.ByQuery),
	)
	if got := text(admin, `[data-testid=flash]`); got != "Password changed." {
		t.Errorf("flash %q", got)
	}
	shot("account")
	run(admin, "sign out",
		chromedp.Click(`form[action="/admin/signout"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
	)
	signIn(admin, adminEmail, newPassword)
}

// startChromium starts a headless Chromium with a fresh profile, stopped
// and removed when the test ends, and returns its context.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	profile, err := os.MkdirTemp("", "bulkhead-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath), chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("no-first-run", true), chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900))
	bctx, cancelBrowser := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(bctx, 4*time.Minute)
	t.Cleanup(func() {
		cancel()
		cancelBrowser()
		cancelAlloc()
		os.RemoveAll(profile) // after Chromium has exited
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}
