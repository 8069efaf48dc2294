package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// TestWebhooksInBrowser: an administrator adds a webhook for every tenant
// in the console, copies its secret, opens the endpoint's page, where the
// attempts show a receiver that failed before it answered, and the
// deliveries list, and replays from an event, which arrives again.
func TestWebhooksInBrowser(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("Chromium is not installed at %s: apt-get install chromium (.ci/run does it)", chromiumPath)
	}
	cs := webhookConsole(t, time.Hour)
	shotDir := t.TempDir()
	if *screenshots {
		shotDir = filepath.Join("..", "docs", "screenshots")
	}
	// The receiver fails every third event's first attempt with a 502 and
	// takes a little while over the others.
	var mu sync.Mutex
	tries := map[string]int{}
	var got []string
	n := 0
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		id := r.Header.Get("Bulkhead-Event-Id")
		mu.Lock()
		defer mu.Unlock()
		tries[id]++
		if tries[id] == 1 {
			n++
			if n%3 == 0 {
				w.WriteHeader(http.StatusBadGateway)
				fmt.Fprint(w, "upstream app restarting")
				return
			}
		}
		time.Sleep(time.Duration(10+n*7) * time.Millisecond)
		got = append(got, id)
		fmt.Fprint(w, `{"ok":true}`)
	}))
	t.Cleanup(recv.Close)

	email, password := cs.newStaff(t, staff.RoleAdmin)
	ctx := startChromium(t)
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

	run("sign in",
		chromedp.Navigate(cs.srv.URL+"/admin/signin"),
		chromedp.WaitVisible(`#email`, chromedp.ByQuery),
		chromedp.SendKeys(`#email`, email, chromedp.ByQuery),
		chromedp.SendKeys(`#password`, password, chromedp.ByQuery),
		chromedp.Click(`form[action="/admin/signin"] button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=role]`, chromedp.ByQuery),
	)
	run("add a webhook for every tenant",
		chromedp.Click(`nav a[href="/admin/webhooks"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=new-webhook-form]`, chromedp.ByQuery),
		chromedp.SendKeys(`#f-url`, recv.URL+"/bulkhead/events", chromedp.ByQuery),
		chromedp.Click(`[data-testid=add-webhook]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=new-webhook-box]`, chromedp.ByQuery),
	)
	if s := text(`[data-testid=new-webhook-secret]`); !strings.HasPrefix(s, "whsec_") {
		t.Fatalf("secret shown: %q", s)
	}

	acme, acmeToken := cs.createTenant(t, tenant.PlanEnterprise)
	globex, globexToken := cs.createTenant(t, tenant.PlanStartup)
	for i, name := range []string{"ada", "grace", "linus", "margaret", "barbara", "ken"} {
		if i%2 == 0 {
			cs.scimUser(t, acme.ID, acmeToken, name)
		} else {
			cs.scimUser(t, globex.ID, globexToken, name)
		}
	}
	waitUntil(t, "six deliveries", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 6 })

	run("open the endpoint",
		chromedp.Click(`[data-testid=webhook-row] a`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=attempts]`, chromedp.ByQuery),
	)
	if s := text(`[data-testid=attempts]`); !strings.Contains(s, "502") || !strings.Contains(s, "upstream app restarting") {
		t.Errorf("attempts table %q does not show the failed attempt and its response", s)
	}
	shot("webhook")
	run("open its deliveries",
		chromedp.Click(`nav.tabs a[href$="/deliveries"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`[data-testid=deliveries]`, chromedp.ByQuery),
	)
	if rows := text(`[data-testid=deliveries] tbody`); strings.Count(rows, "Delivered") != 6 {
		t.Errorf("deliveries %q, want six delivered", rows)
	}
	shot("webhook-deliveries")
	run("replay from the oldest of acme's events shown",
		chromedp.Click(`[data-testid=delivery-row]:last-child [data-testid=replay]`, chromedp.ByQuery),
		chromedp.WaitVisible(`.flash, [role=status]`, chromedp.ByQuery),
	)
	waitUntil(t, "the replayed events", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= 7 })
}
