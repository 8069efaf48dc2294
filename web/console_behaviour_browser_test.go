package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestBehaviourInBrowser: an administrator ticks "Strict schemas" in the
// console, and within a second SCIM refuses the undeclared extension it
// accepted before; the card then marks the flag as differing from the
// tenant's profile.
func TestBehaviourInBrowser(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is not installed at %s: apt-get install chromium (.ci/run does it)", chromiumPath)
	}
	cs := sharedConsole(t)
	email, password := cs.newStaff(t, staff.RoleAdmin)
	tn, token := cs.createTenant(t, tenant.PlanStartup)
	shotDir := t.TempDir()
	if *screenshots {
		shotDir = filepath.Join("..", "docs", "screenshots")
	}
	undeclared := func(n int) string {
		return fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"u%d@example.test",`+
			`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales"}}`, n)
	}
	scim := func(body string) int {
		st, _ := cs.scim(t, tn.ID, token, "POST", "/Users", json.RawMessage(body))
		return st
	}
	if st := scim(undeclared(0)); st != http.StatusCreated {
		t.Fatalf("before: status %d, want 201", st)
	}

	bctx := tenantChromium(t)
	run := func(step string, actions ...chromedp.Action) {
		t.Helper()
		if err := chromedp.Run(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	run("sign in",
		chromedp.Navigate(cs.srv.URL+"/admin/"),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, email, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		chromedp.Click(`form[action="/admin/signin"] button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=tenants]`, chromedp.ByQuery),
	)
	run("tick strict schemas",
		chromedp.Navigate(cs.srv.URL+"/admin/tenants/"+tn.ID+"/permissions"),
		chromedp.WaitVisible(`[data-testid=flag-strict_schemas]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=flag-strict_schemas]`, chromedp.ByQuery),
		chromedp.Click(`[data-testid=save-behaviour]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=differs-strict_schemas]`, chromedp.ByQuery),
	)
	saved := time.Now()
	status := scim(undeclared(1))
	for n := 2; status != http.StatusBadRequest && time.Since(saved) < time.Second; n++ {
		time.Sleep(100 * time.Millisecond)
		status = scim(undeclared(n))
	}
	if status != http.StatusBadRequest {
		t.Errorf("SCIM create with an undeclared extension a second after strict_schemas was ticked: status %d, want 400", status)
	}
	var mark string
	run("read the mark", chromedp.Text(`[data-testid=differs-strict_schemas]`, &mark, chromedp.ByQuery))
	if mark != "differs from entra: false" {
		t.Errorf("mark %q", mark)
	}
	var card []byte
	run("screenshot the behaviour card", chromedp.Screenshot(`#behaviour`, &card, chromedp.ByQuery))
	if err := os.WriteFile(filepath.Join(shotDir, "tenant-behaviour.png"), card, 0o644); err != nil {
		t.Fatal(err)
	}
}
