package web_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

var screenshots = flag.Bool("screenshots", false, "save the browser test's screenshots to docs/screenshots/")

// chromiumPath is Debian's Chromium; .ci/run installs it when missing.
const chromiumPath = "/usr/bin/chromium"

// TestConsoleInBrowser drives the real console in headless Chromium, as an
// administrator and then as support, the way a person would.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is not installed at %s: apt-get install chromium (.ci/run does it)", chromiumPath)
	}
	db := storetest.NewDB(t)
	m := newMeter(t, db)
	cs := newConsoleServer(t, db, m, m.wrap)
	adminEmail, adminPassword := cs.newStaff(t, staff.RoleAdmin)
	supportEmail, supportPassword := cs.newStaff(t, staff.RoleSupport)
	seedTenants(t, cs)

	shotDir := t.TempDir()
	if *screenshots {
		shotDir = filepath.Join("..", "docs", "screenshots")
	}

	// A fresh profile; removed after Chromium has exited, which t.TempDir
	// cannot wait for.
	profile, err := os.MkdirTemp("", "bulkhead-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile)
	opts := []chromedp.ExecAllocatorOption{
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
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	defer cancel()
	// Accept the console's "are you sure?" questions.
	chromedp.ListenTarget(ctx, func(ev any) {
		if _, ok := ev.(*cdppage.EventJavascriptDialogOpening); ok {
			go func() { _ = chromedp.Run(ctx, cdppage.HandleJavaScriptDialog(true)) }()
		}
	})

	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		var s string
		run("read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
		return strings.TrimSpace(s)
	}
	count := func(sel string) int {
		t.Helper()
		var n int
		run("count "+sel, chromedp.Evaluate(fmt.Sprintf(`document.querySelectorAll(%q).length`, sel), &n))
		return n
	}
	shot := func(name string) {
		t.Helper()
		var buf []byte
		run("screenshot "+name, chromedp.FullScreenshot(&buf, 100))
		if err := os.WriteFile(filepath.Join(shotDir, name+".png"), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	signIn := func(email, password string) {
		t.Helper()
		run("sign in as "+email,
			chromedp.Navigate(cs.srv.URL+"/admin/"),
			chromedp.WaitVisible(`#email`, chromedp.ByQuery),
			chromedp.SendKeys(`#email`, email, chromedp.ByQuery),
			chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
			chromedp.Click(`form[action="/admin/signin"] button[type=submit]`, chromedp.ByQuery),
			chromedp.WaitVisible(`[data-testid=tenants]`, chromedp.ByQuery),
		)
	}

	// Sign in as the administrator.
	run("open the sign-in page", chromedp.Navigate(cs.srv.URL+"/admin/"), chromedp.WaitVisible(`#email`, chromedp.ByQuery))
	shot("signin")
	signIn(adminEmail, adminPassword)
	if got := text(`[data-testid=role]`); !strings.EqualFold(got, "admin") {
		t.Fatalf("role shown %q", got)
	}

	// Create a tenant: first a bad id, then a good one.
	run("open the new-tenant form",
		chromedp.Click(`[data-testid=new-tenant]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#f-id`, chromedp.ByQuery),
		chromedp.SendKeys(`#f-id`, "Acme Inc", chromedp.ByQuery),
		chromedp.SendKeys(`#f-name`, "Acme Inc", chromedp.ByQuery),
		chromedp.Click(`[data-testid=create-tenant]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#h-id.error`, chromedp.ByQuery),
	)
	if got := text(`#h-id.error`); !strings.Contains(got, "lowercase letter first") {
		t.Errorf("bad id message %q", got)
	}
	shot("tenant-new-errors")
	run("create acme",
		chromedp.SetValue(`#f-id`, "acme", chromedp.ByQuery),
		chromedp.SetValue(`#f-plan`, tenant.PlanEnterprise, chromedp.ByQuery),
		chromedp.Click(`[data-testid=create-tenant]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=new-token]`, chromedp.ByQuery),
	)
	var loc string
	run("read the address", chromedp.Location(&loc))
	if loc != cs.srv.URL+"/admin/tenants/acme" {
		t.Errorf("address after creating is %s, want the tenant's page", loc)
	}
	if got := text(`[data-testid=scim-base-url]`); got != cs.srv.URL+"/tenants/acme/scim/v2" {
		t.Errorf("SCIM base URL shown %q", got)
	}

	// Copy the token with its button, and read it back from the clipboard.
	run("allow the clipboard", cdpbrowser.GrantPermissions([]cdpbrowser.PermissionType{
		cdpbrowser.PermissionTypeClipboardReadWrite, cdpbrowser.PermissionTypeClipboardSanitizedWrite,
	}).WithOrigin(cs.srv.URL))
	run("copy the token",
		chromedp.Click(`[data-testid=copy-new-token]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=copy-new-token].copied`, chromedp.ByQuery),
	)
	var token string
	run("read the clipboard", chromedp.Evaluate(`navigator.clipboard.readText()`, &token, awaitPromise))
	if !strings.HasPrefix(token, tenant.TokenPrefix) || token != text(`[data-testid=new-token]`) {
		t.Fatalf("clipboard holds %q, want the token shown", token)
	}
	shot("tenant-created")

	// SCIM calls over HTTP with the copied token.
	scim := func(method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, cs.srv.URL+"/tenants/acme/scim/v2"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/scim+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	newUser := func(name string) string {
		return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q}`, name)
	}
	for _, name := range []string{"ada@acme.test", "grace@acme.test", "linus@acme.test"} {
		if got := scim("POST", "/Users", newUser(name)); got != http.StatusCreated {
			t.Fatalf("SCIM create %s: %d", name, got)
		}
	}
	if got := scim("POST", "/Groups", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Engineering"}`); got != http.StatusCreated {
		t.Fatalf("SCIM create group: %d", got)
	}
	if got := scim("GET", "/Users", ""); got != http.StatusOK {
		t.Fatalf("SCIM list: %d", got)
	}

	// The tenant page shows the new counts.
	var users, requests string
	for i := 0; i < 30; i++ {
		run("reload the tenant page", chromedp.Navigate(cs.srv.URL+"/admin/tenants/acme"), chromedp.WaitVisible(`[data-testid=users-count]`, chromedp.ByQuery))
		users, requests = text(`[data-testid=users-count]`), text(`[data-testid=requests-count]`)
		if strings.HasPrefix(users, "3 ") && requests == "5" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.HasPrefix(users, "3 ") || requests != "5" {
		t.Errorf("tenant page shows users %q and requests %q, want 3 and 5", users, requests)
	}
	if got := text(`[data-testid=groups-count]`); !strings.HasPrefix(got, "1 ") {
		t.Errorf("groups shown %q, want 1", got)
	}
	if count(`[data-testid=new-token]`) != 0 {
		t.Error("the token is shown again")
	}
	shot("tenant")

	// Give the tenant an attribute of its own: its SCIM clients see the
	// extension within a second.
	const urn = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
	run("add a schema extension",
		chromedp.Navigate(cs.srv.URL+"/admin/tenants/acme/schema"),
		chromedp.WaitVisible(`[data-testid=schema-definition]`, chromedp.ByQuery),
		chromedp.SetValue(`[data-testid=schema-definition]`, `{"schema": "`+urn+`", "description": "Acme's own attributes",
  "attributes": [{"name": "costCenter", "type": "string", "indexed": true}, {"name": "badge", "type": "integer", "uniqueness": "server"}]}`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=save-schema]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=extensions] tr[data-schema]`, chromedp.ByQuery),
	)
	if got := text(`[data-testid=flash]`); !strings.Contains(got, urn) {
		t.Errorf("flash %q", got)
	}
	added := time.Now()
	for scim("GET", "/Schemas/"+urn, "") != http.StatusOK {
		if time.Since(added) > time.Second {
			t.Fatal("the extension is not served a second after it was saved")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := scim("POST", "/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","`+urn+`"],"userName":"hedy@acme.test","`+urn+`":{"badge":"seven"}}`); got != http.StatusBadRequest {
		t.Errorf("SCIM create with a badge of the wrong type: %d, want 400", got)
	}
	var card []byte
	run("screenshot the schema card", chromedp.Screenshot(`#schema`, &card, chromedp.ByQuery))
	if err := os.WriteFile(filepath.Join(shotDir, "tenant-schema.png"), card, 0o644); err != nil {
		t.Fatal(err)
	}

	// Take away can_create: the next SCIM create is refused.
	run("take away can_create",
		chromedp.Navigate(cs.srv.URL+"/admin/tenants/acme/permissions"),
		chromedp.WaitVisible(`[data-testid=perm-can_create]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=perm-can_create]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=save-permissions]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=permissions-saved]`, chromedp.ByQuery),
	)
	saved := time.Now()
	var checked bool
	run("read can_create", chromedp.Evaluate(`document.querySelector('[data-testid=perm-can_create]').checked`, &checked))
	if checked {
		t.Error("can_create still checked after saving")
	}
	status := scim("POST", "/Users", newUser("refused@acme.test"))
	for status != http.StatusForbidden && time.Since(saved) < time.Second {
		time.Sleep(100 * time.Millisecond)
		status = scim("POST", "/Users", newUser(fmt.Sprintf("refused%d@acme.test", time.Now().UnixNano())))
	}
	if status != http.StatusForbidden {
		t.Errorf("SCIM create a second after can_create was taken away: status %d, want 403", status)
	}
	if got := scim("GET", "/Users", ""); got != http.StatusOK {
		t.Errorf("SCIM list after taking away can_create: %d, want 200", got)
	}

	// Revoke the token, after the confirmation: SCIM refuses it.
	run("revoke the token",
		chromedp.Navigate(cs.srv.URL+"/admin/tenants/acme/tokens"),
		chromedp.Click(`[data-testid=revoke-token]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=flash]`, chromedp.ByQuery),
	)
	if got := text(`[data-testid=flash]`); !strings.Contains(got, "revoked") {
		t.Errorf("flash %q", got)
	}
	if got := scim("GET", "/Users", ""); got != http.StatusUnauthorized {
		t.Errorf("SCIM with the revoked token: %d, want 401", got)
	}

	// The other pages, for the eye.
	run("tenants", chromedp.Navigate(cs.srv.URL+"/admin/tenants"), chromedp.WaitVisible(`[data-testid=tenants]`, chromedp.ByQuery))
	if n := count(`tr[data-tenant]`); n != 7 {
		t.Errorf("%d tenants listed, want 7", n)
	}
	shot("tenants")
	run("usage", chromedp.Navigate(cs.srv.URL+"/admin/tenants/stark/usage"), chromedp.WaitVisible(`svg[data-testid=chart]`, chromedp.ByQuery))
	if n := count(`svg[data-testid=chart]`); n != 4 {
		t.Errorf("%d charts on the usage page, want 4", n)
	}
	shot("usage")
	run("health", chromedp.Navigate(cs.srv.URL+"/admin/health"), chromedp.WaitVisible(`[data-testid=checks]`, chromedp.ByQuery))
	if got := text(`[data-testid=attention]`); !strings.Contains(got, "hooli") || !strings.Contains(got, "no usable SCIM token") {
		t.Errorf("tenants needing attention: %q", got)
	}
	shot("health")
	run("audit", chromedp.Navigate(cs.srv.URL+"/admin/audit"), chromedp.WaitVisible(`[data-testid=audit]`, chromedp.ByQuery))
	if got := text(`[data-testid=audit]`); !strings.Contains(got, "staff:"+adminEmail) || !strings.Contains(got, "token.revoke") || !strings.Contains(got, "can_create") {
		t.Errorf("audit log lacks the admin's changes: %.300s", got)
	}
	shot("audit")
	run("phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(cs.srv.URL+"/admin/tenants"), chromedp.WaitVisible(`[data-testid=tenants]`, chromedp.ByQuery))
	shot("tenants-phone")
	run("phone tenant", chromedp.Navigate(cs.srv.URL+"/admin/tenants/acme"), chromedp.WaitVisible(`[data-testid=users-count]`, chromedp.ByQuery))
	shot("tenant-phone")
	run("desktop", chromedp.EmulateViewport(1280, 900))

	// Sign out; sign in as support.
	run("sign out",
		chromedp.Click(`form[action="/admin/signout"] button`, chromedp.ByQuery),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
	)
	signIn(supportEmail, supportPassword)
	if got := text(`[data-testid=role]`); !strings.EqualFold(got, "support") {
		t.Fatalf("role shown %q", got)
	}
	if count(`[data-testid=new-tenant]`) != 0 {
		t.Error("support sees New tenant")
	}
	// Changing one's own password is the one form support may send.
	for _, path := range []string{"/admin/tenants/acme", "/admin/tenants/acme/tokens", "/admin/tenants/acme/permissions", "/admin/tenants/acme/schema",
		"/admin/tenants/acme/health", "/admin/tenants/acme/audit", "/admin/tenants/acme/usage", "/admin/health", "/admin/audit", "/admin/account"} {
		run("open "+path, chromedp.Navigate(cs.srv.URL+path), chromedp.WaitVisible(`main`, chromedp.ByQuery))
		if n := count(`form[method=post]:not([action="/admin/signout"]):not([action="/admin/account/password"]), main form:not([method=get]):not([action="/admin/account/password"]) input:not([type=hidden]), a[href$="/new"], a[href$="/delete"], [data-testid=suspend], [data-testid=resume]`); n != 0 {
			t.Errorf("%s shows support %d change controls", path, n)
		}
	}
	run("tenant as support", chromedp.Navigate(cs.srv.URL+"/admin/tenants/acme/permissions"), chromedp.WaitVisible(`[data-testid=permissions-readonly]`, chromedp.ByQuery))
	shot("tenant-support")

	// Every change request, sent from support's browser with its valid
	// CSRF token, is refused by the server.
	toks, err := cs.tenants.FindTokens(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	actions := adminActions(t, cs, map[string]string{":id": "acme", ":token": toks[0].ID.String(),
		":staff": cs.staffID(t, adminEmail), ":key": uuid.NewString(), ":hook": uuid.NewString()})
	var statuses map[string]int
	js := `(async () => {
		const csrf = document.querySelector('input[name=csrf]').value;
		const out = {};
		for (const [method, path] of ` + jsActions(actions) + `) {
			const body = method === 'POST' ? new URLSearchParams({csrf, id: 'bysupport', confirm: 'acme', name: 'x',
				max_users: '1', max_groups: '1', requests_per_minute: '1', burst: '1', can_create: 'on'}) : undefined;
			const res = await fetch(path, {method, body, redirect: 'manual', credentials: 'same-origin'});
			out[method + ' ' + path] = res.status;
		}
		return out;
	})()`
	run("send every change as support", chromedp.Evaluate(js, &statuses, awaitPromise))
	if len(statuses) != len(actions) {
		t.Fatalf("sent %d requests: %v", len(statuses), statuses)
	}
	for req, status := range statuses {
		if status != http.StatusForbidden {
			t.Errorf("support %s: status %d, want 403", req, status)
		}
	}
	if _, err := cs.tenants.FindTenant(context.Background(), "bysupport"); err == nil {
		t.Error("support created a tenant")
	}
	if got, err := cs.tenants.FindTenant(context.Background(), "acme"); err != nil || got.Status != tenant.StatusActive {
		t.Errorf("support changed acme: %v %v", got, err)
	}
	if perms, _ := cs.tenants.FindPermissions(context.Background(), "acme"); perms.MaxUsers == 1 {
		t.Error("support changed acme's permissions")
	}
}

func awaitPromise(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }

// jsActions writes actions as a JavaScript array of [method, path].
func jsActions(actions []struct{ method, path string }) string {
	var parts []string
	for _, a := range actions {
		parts = append(parts, fmt.Sprintf("[%q, %q]", a.method, a.path))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// seedTenants creates a few tenants in different states, so that the list,
// the health view and the usage charts look like a working day.
func seedTenants(t testing.TB, cs *consoleServer) {
	t.Helper()
	ctx := context.Background()
	for _, nt := range []tenant.NewTenant{
		{ID: "globex", Name: "Globex Corporation", Plan: tenant.PlanStartup},
		{ID: "hooli", Name: "Hooli", Plan: tenant.PlanStartup},
		{ID: "initech", Name: "Initech", Plan: tenant.PlanTrial},
		{ID: "stark", Name: "Stark Industries", Plan: tenant.PlanEnterprise},
		{ID: "umbrella", Name: "Umbrella Health", Plan: tenant.PlanEnterprise, Strict: true},
		{ID: "wayne", Name: "Wayne Enterprises", Plan: tenant.PlanEnterprise},
	} {
		_, tok, err := cs.tenants.CreateTenant(ctx, nt, "cli")
		if err != nil {
			t.Fatal(err)
		}
		switch nt.ID {
		case "hooli":
			if _, err := cs.tenants.RevokeToken(ctx, nt.ID, tok.ID.String(), "cli"); err != nil {
				t.Fatal(err)
			}
		case "umbrella":
			if _, _, err := cs.tenants.SetStatus(ctx, nt.ID, tenant.StatusSuspended, "cli"); err != nil {
				t.Fatal(err)
			}
		case "stark", "globex":
			users, groups := 12, 2
			if nt.ID == "stark" {
				users, groups = 160, 9
			}
			post := func(resource, body string) {
				req, _ := http.NewRequest("POST", cs.srv.URL+"/tenants/"+nt.ID+"/scim/v2/"+resource, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok.Secret)
				req.Header.Set("Content-Type", "application/scim+json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
			}
			for i := 0; i < users; i++ {
				post("Users", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%d@%s.test"}`, i, nt.ID))
			}
			for i := 0; i < groups; i++ {
				post("Groups", fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Team %d"}`, i))
			}
			if nt.ID == "stark" {
				fillUsage(t, cs.db, nt.ID)
			}
		}
	}
	if _, err := cs.db.ExecContext(ctx, `UPDATE control.tenants SET trial_ends_at = now() + interval '2 days' WHERE id = 'initech'`); err != nil {
		t.Fatal(err)
	}
}
