package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/events"
)

// eventsPage is a GET /events answer.
type eventsPage struct {
	Events []struct {
		ID       string          `json:"id"`
		Cursor   string          `json:"cursor"`
		TenantID string          `json:"tenant_id"`
		Sequence int64           `json:"sequence"`
		Type     string          `json:"type"`
		Time     time.Time       `json:"time"`
		Actor    string          `json:"actor"`
		Data     json.RawMessage `json:"data"`
	} `json:"events"`
	Next string `json:"next"`
}

// getEvents calls GET /events with key and query, and returns the status
// and raw body.
func getEvents(t *testing.T, key string, query url.Values) (int, []byte, eventsPage) {
	t.Helper()
	req, _ := http.NewRequest("GET", env.srv.URL+"/events?"+query.Encode(), nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&raw)
	var p eventsPage
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
	}
	return resp.StatusCode, raw, p
}

func newEventsKey(t *testing.T, tenants ...string) string {
	t.Helper()
	k, err := events.CreateKey(context.Background(), env.db, "test", tenants, "test")
	if err != nil {
		t.Fatal(err)
	}
	return k.Secret
}

// waitEvents long-polls the tenant's events with key until n have come.
func waitEvents(t *testing.T, key, tenant string, n int) eventsPage {
	t.Helper()
	var all eventsPage
	deadline := time.Now().Add(30 * time.Second)
	for len(all.Events) < n && time.Now().Before(deadline) {
		status, raw, p := getEvents(t, key, url.Values{"tenant": {tenant}, "after": {all.Next}, "wait": {"5"}})
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, raw)
		}
		all.Events = append(all.Events, p.Events...)
		all.Next = p.Next
	}
	return all
}

// TestEventsAPI: a SCIM write shows up in GET /events with the contract's
// fields; a key scoped to one tenant never sees another's events, and
// asking for a tenant outside its scope, or one that does not exist, gets
// the same answer.
func TestEventsAPI(t *testing.T) {
	t.Parallel()
	a, b := newTenant(t), newTenant(t)
	id := a.createUser("ada")
	b.createUser("bob")
	all, onlyA := newEventsKey(t), newEventsKey(t, a.tenant)

	p := waitEvents(t, all, a.tenant, 1)
	if len(p.Events) != 1 {
		t.Fatalf("events of %s: %+v", a.tenant, p)
	}
	e := p.Events[0]
	var data map[string]any
	_ = json.Unmarshal(e.Data, &data)
	if e.ID == "" || e.Cursor == "" || e.TenantID != a.tenant || e.Sequence != 1 || e.Type != "user.created" || e.Time.IsZero() ||
		!strings.HasPrefix(e.Actor, "token:") || data["id"] != id || data["userName"] != "ada" || p.Next != e.Cursor {
		t.Errorf("event: %+v, data %v, next %q", e, data, p.Next)
	}
	waitEvents(t, all, b.tenant, 1) // b's event is in the feed too

	// The scoped key reads the whole feed and sees a's events only.
	var after string
	for range 100 {
		status, raw, p := getEvents(t, onlyA, url.Values{"after": {after}, "limit": {"1000"}})
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, raw)
		}
		for _, e := range p.Events {
			if e.TenantID != a.tenant {
				t.Fatalf("a key scoped to %s saw an event of %s", a.tenant, e.TenantID)
			}
		}
		if len(p.Events) == 0 {
			break
		}
		after = p.Next
	}
	// Outside its scope, existing or not: the same empty answer.
	var answers []string
	for _, tenant := range []string{b.tenant, "nosuchtenant"} {
		status, raw, _ := getEvents(t, onlyA, url.Values{"tenant": {tenant}, "after": {"1"}})
		answers = append(answers, string(raw))
		if status != http.StatusOK {
			t.Errorf("tenant %s: status %d", tenant, status)
		}
	}
	if answers[0] != answers[1] || answers[0] != `{"events":[],"next":"1"}` {
		t.Errorf("answers outside the scope differ or tell something: %q", answers)
	}
	_, _, p = getEvents(t, all, url.Values{"tenant": {"nosuchtenant"}, "after": {"1"}})
	if len(p.Events) != 0 || p.Next != "1" {
		t.Errorf("unknown tenant: %+v", p)
	}
}

// TestEventsAPIErrors: a missing, wrong or revoked key gets 401, and bad
// parameters 400, each with a JSON error.
func TestEventsAPIErrors(t *testing.T) {
	t.Parallel()
	setup(t)
	key := newEventsKey(t)
	k, err := events.CreateKey(context.Background(), env.db, "revoked", nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := events.RevokeKey(context.Background(), env.db, k.ID.String(), "test"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		key    string
		query  url.Values
		status int
	}{
		{"no key", "", nil, http.StatusUnauthorized},
		{"a SCIM token", "bh_notanevents", nil, http.StatusUnauthorized},
		{"unknown key", "bhe_unknown", nil, http.StatusUnauthorized},
		{"revoked key", k.Secret, nil, http.StatusUnauthorized},
		{"bad cursor", key, url.Values{"after": {"abc"}}, http.StatusBadRequest},
		{"limit zero", key, url.Values{"limit": {"0"}}, http.StatusBadRequest},
		{"limit too large", key, url.Values{"limit": {"1001"}}, http.StatusBadRequest},
		{"wait too long", key, url.Values{"wait": {"31"}}, http.StatusBadRequest},
		{"wait not a number", key, url.Values{"wait": {"soon"}}, http.StatusBadRequest},
		{"unknown type", key, url.Values{"type": {"user.created,user.exploded"}}, http.StatusBadRequest},
		{"two cursors", key, url.Values{"after": {"1", "2"}}, http.StatusBadRequest},
		{"wait with s", key, url.Values{"wait": {"0s"}, "type": {"user.created", "group.deleted"}}, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, raw, _ := getEvents(t, tt.key, tt.query)
			var body map[string]any
			if status != tt.status || json.Unmarshal(raw, &body) != nil || tt.status != http.StatusOK && body["error"] == nil {
				t.Errorf("status %d, want %d: %s", status, tt.status, raw)
			}
		})
	}
}

// TestEventsLongPoll: a long poll on a quiet tenant returns the event of a
// write made after it started, long before its wait is over.
func TestEventsLongPoll(t *testing.T) {
	t.Parallel()
	c := newTenant(t)
	key := newEventsKey(t, c.tenant)
	start := time.Now()
	done := make(chan eventsPage, 1)
	go func() {
		_, _, p := getEvents(t, key, url.Values{"tenant": {c.tenant}, "wait": {"30"}})
		done <- p
	}()
	time.Sleep(300 * time.Millisecond)
	c.createUser("late")
	p := <-done
	if len(p.Events) != 1 || p.Events[0].Type != "user.created" {
		t.Fatalf("poll: %+v", p)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the long poll returned after %s", d)
	}
}
