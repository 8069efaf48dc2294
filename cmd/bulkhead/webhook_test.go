package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
)

// TestWebhookCommands: webhook add --json prints the id and the secret,
// list shows the endpoint, remove removes it; bad input is one line on
// stderr and a non-zero exit.
func TestWebhookCommands(t *testing.T) {
	t.Setenv("BULKHEAD_WEBHOOK_ALLOW", "")
	db := "--database-url=" + storetest.URL(t)
	if code, _, errOut := cliRun(t, "", "tenant", "create", "hooked", db); code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	code, out, errOut := cliRun(t, "", "webhook", "add", "--url", "https://93.184.215.14/hook", "--tenant", "hooked", "--json", db)
	var added struct{ ID, Secret, URL string }
	if err := json.Unmarshal([]byte(out), &added); code != 0 || err != nil || added.ID == "" || !strings.HasPrefix(added.Secret, "whsec_") {
		t.Fatalf("add: exit %d, %s %s", code, out, errOut)
	}
	code, out, _ = cliRun(t, "", "webhook", "list", db)
	if code != 0 || !strings.Contains(out, added.ID) || !strings.Contains(out, "hooked") || strings.Contains(out, added.Secret) {
		t.Errorf("list: exit %d:\n%s", code, out)
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"ErrPlainHTTP", []string{"add", "--url", "http://93.184.215.14/hook"}, 1, "must use https"},
		{"ErrLoopback", []string{"add", "--url", "https://127.0.0.1/hook"}, 1, "not a public address"},
		{"ErrUnknownTenant", []string{"add", "--url", "https://93.184.215.14/hook", "--tenant", "nosuch"}, 1, `tenant "nosuch" not found`},
		{"ErrNoURL", []string{"add"}, 2, "needs --url"},
		{"ErrEmptyTenant", []string{"add", "--url", "https://93.184.215.14/hook", "--tenant", ""}, 2, "names no tenant"},
		{"ErrUnknownID", []string{"remove", "nosuch"}, 1, `webhook "nosuch" not found`},
		{"ErrNoSubcommand", []string{}, 2, "add, list or remove"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := cliRun(t, "", append(append([]string{"webhook"}, tt.args...), db)...)
			first, _, _ := strings.Cut(errOut, "\n")
			if code != tt.code || !strings.Contains(first, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d saying %q on its first line", code, errOut, tt.code, tt.want)
			}
		})
	}
	if code, out, errOut := cliRun(t, "", "webhook", "remove", added.ID, db); code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("remove: exit %d: %s %s", code, out, errOut)
	}
	if code, out, _ := cliRun(t, "", "webhook", "list", "--json", db); code != 0 || out != "{\"webhooks\":[]}\n" {
		t.Errorf("list after remove: exit %d: %s", code, out)
	}
}

// TestWebhookSurvivesKill: a server killed with SIGKILL while it delivers
// an event loses none: the next server delivers that event again, with the
// same Bulkhead-Event-Id, and the rest after it, in order, signed.
func TestWebhookSurvivesKill(t *testing.T) {
	t.Setenv("BULKHEAD_WEBHOOK_ALLOW", "127.0.0.0/8")
	dsn := storetest.URL(t)
	db := "--database-url=" + dsn
	code, out, errOut := cliRun(t, "", "tenant", "create", "killed", "--json", db)
	if code != 0 {
		t.Fatalf("tenant create: exit %d: %s", code, errOut)
	}
	var tn struct{ Token string }
	_ = json.Unmarshal([]byte(out), &tn)

	var mu sync.Mutex
	var secret string
	var seqs []int64
	ids := map[int64]string{}
	hung := make(chan struct{})    // closed when event 3 first arrives
	release := make(chan struct{}) // lets that request end
	first3 := true
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			ID       string
			Sequence int64
		}
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		ts, sig, _ := strings.Cut(strings.TrimPrefix(r.Header.Get("Bulkhead-Signature"), "t="), ",v1=")
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(ts + "." + string(body)))
		if sig != hex.EncodeToString(m.Sum(nil)) || r.Header.Get("Bulkhead-Event-Id") != ev.ID {
			t.Errorf("event %d: bad signature or id header", ev.Sequence)
		}
		seqs = append(seqs, ev.Sequence)
		if old, ok := ids[ev.Sequence]; ok && old != ev.ID {
			t.Errorf("event %d sent again with another id", ev.Sequence)
		}
		ids[ev.Sequence] = ev.ID
		hang := ev.Sequence == 3 && first3
		first3 = first3 && !hang
		mu.Unlock()
		if hang {
			close(hung)
			<-release
		}
	}))
	t.Cleanup(rc.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	code, out, errOut = cliRun(t, "", "webhook", "add", "--url", rc.URL+"/hook", "--json", db)
	var added struct{ Secret string }
	if err := json.Unmarshal([]byte(out), &added); code != 0 || err != nil {
		t.Fatalf("webhook add: exit %d: %s", code, errOut)
	}
	mu.Lock()
	secret = added.Secret
	mu.Unlock()

	env := []string{"DATABASE_URL=" + dsn, "BULKHEAD_WEBHOOK_ALLOW=127.0.0.0/8"}
	s := startServer(t, env...)
	for i := range 5 {
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user%d"}`, i)
		req, _ := http.NewRequest(http.MethodPost, s.url+"/tenants/killed/scim/v2/Users", bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+tn.Token)
		req.Header.Set("Content-Type", "application/scim+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			t.Fatalf("create user: %d", res.StatusCode)
		}
	}
	select {
	case <-hung:
	case <-time.After(30 * time.Second):
		t.Fatal("event 3 never arrived")
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	close(release)

	startServer(t, env...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := fmt.Sprint(seqs)
		mu.Unlock()
		if got == "[1 2 3 3 4 5]" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events received %s, want [1 2 3 3 4 5]: event 3 again after the kill, then the rest", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
