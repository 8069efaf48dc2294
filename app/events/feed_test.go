package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/credential"
	"github.com/bulkhead-dev/bulkhead/app/directory"
	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/scim"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

func TestMain(m *testing.M) { storetest.Main(m) }

var tenantSeq atomic.Int64

// env is the shared database, the services over it, and a relay running
// until the test ends.
type env struct {
	t       *testing.T
	db      *store.DB
	tenants *tenant.Service
	dir     *directory.Service
	feed    *events.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := storetest.SharedDB(t)
	e := &env{t: t, db: db, tenants: tenant.NewService(db), dir: directory.NewService(db), feed: events.NewService(db, 0, nil)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.feed.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// tenant creates a tenant (strict ones too) and a caller holding its token.
func (e *env) tenant(strict bool) directory.Caller {
	e.t.Helper()
	ctx := context.Background()
	nt := tenant.NewTenant{ID: fmt.Sprintf("ev%d", tenantSeq.Add(1)), Plan: tenant.PlanEnterprise, Strict: strict}
	_, tok, err := e.tenants.CreateTenant(ctx, nt, "test")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = e.tenants.DeleteTenant(context.Background(), nt.ID, "test") })
	p, err := credential.NewService(e.tenants).Authenticate(ctx, tok.Secret)
	if err != nil {
		e.t.Fatal(err)
	}
	return directory.Caller{Principal: p, BaseURL: "https://scim.test/tenants/" + nt.ID + "/scim/v2"}
}

func (e *env) createUser(c directory.Caller, name string) {
	e.t.Helper()
	b := map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name}
	if _, err := e.dir.Create(context.Background(), c, scim.UserResource, b); err != nil {
		e.t.Error(err)
	}
}

// readAll reads the feed for the given tenants from after, in pages of
// limit, until want events have come or a generous time has passed.
func (e *env) readAll(q events.Query, want int) []events.Event {
	e.t.Helper()
	var all []events.Event
	deadline := time.Now().Add(30 * time.Second)
	for len(all) < want && time.Now().Before(deadline) {
		p, err := e.feed.Poll(context.Background(), q, time.Second)
		if err != nil {
			e.t.Fatal(err)
		}
		all = append(all, p.Events...)
		q.After = p.Next
	}
	return all
}

// checkSequences fails unless each tenant's events are numbered 1..n in
// feed order, each once.
func checkSequences(t *testing.T, evs []events.Event, want map[string]int) {
	t.Helper()
	next := map[string]int64{}
	for _, e := range evs {
		if _, ok := want[e.TenantID]; !ok {
			continue
		}
		next[e.TenantID]++
		if e.Sequence != next[e.TenantID] {
			t.Fatalf("tenant %s: sequence %d where %d was due (%s)", e.TenantID, e.Sequence, next[e.TenantID], e.Type)
		}
	}
	for id, n := range want {
		if next[id] != int64(n) {
			t.Errorf("tenant %s: %d events, want %d", id, next[id], n)
		}
	}
}

// TestFeedConcurrentWriters: with several writers in each of four tenants
// (one strict) writing while a reader pages through the feed with a small
// limit, the reader sees every tenant's events 1..N in order, none skipped
// or repeated.
func TestFeedConcurrentWriters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const tenants, writers, each = 4, 3, 10
	var callers []directory.Caller
	want := map[string]int{}
	var scope []string
	for i := range tenants {
		c := e.tenant(i == 0)
		callers = append(callers, c)
		want[c.Principal.Tenant.ID] = writers * each
		scope = append(scope, c.Principal.Tenant.ID)
	}
	var got []events.Event
	read := make(chan struct{})
	go func() {
		defer close(read)
		got = e.readAll(events.Query{Scope: scope, Limit: 7}, tenants*writers*each)
	}()
	var wg sync.WaitGroup
	for _, c := range callers {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					e.createUser(c, fmt.Sprintf("w%d-%d", w, i))
				}
			}()
		}
	}
	wg.Wait()
	<-read
	checkSequences(t, got, want)
}

// TestFeedStaffEvents: tenant.suspended, tenant.resumed and
// tenant.extension_added take their place in the tenant's sequence between
// its SCIM writes, and tenant.deleted comes last, after every event the
// tenant committed before it was deleted.
func TestFeedStaffEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	c := e.tenant(true)
	id := c.Principal.Tenant.ID
	q := events.Query{Tenant: id}
	e.createUser(c, "one")
	e.readAll(q, 1) // the relay has placed it before the suspension
	if _, _, err := e.tenants.SetStatus(ctx, id, tenant.StatusSuspended, "staff:ann@example.com"); err != nil {
		t.Fatal(err)
	}
	e.readAll(q, 2)
	if _, _, err := e.tenants.SetStatus(ctx, id, tenant.StatusActive, "staff:ann@example.com"); err != nil {
		t.Fatal(err)
	}
	ext, err := scim.ParseExtension([]byte(`{"schema":"urn:ietf:params:scim:schemas:extension:acme:2.0:User","attributes":[{"name":"badge","type":"string"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.tenants.PutSchemaExtension(ctx, id, ext, "staff:ann@example.com"); err != nil {
		t.Fatal(err)
	}
	e.readAll(q, 4)
	e.createUser(c, "two")
	if err := e.tenants.DeleteTenant(ctx, id, "staff:bob@example.com"); err != nil {
		t.Fatal(err)
	}
	evs := e.readAll(q, 6)
	checkSequences(t, evs, map[string]int{id: 6})
	var types []string
	for _, ev := range evs {
		types = append(types, ev.Type+" "+ev.Actor)
	}
	wantTypes := fmt.Sprint([]string{"user.created token:" + c.Principal.TokenPrefix, "tenant.suspended staff:ann@example.com", "tenant.resumed staff:ann@example.com",
		"tenant.extension_added staff:ann@example.com", "user.created token:" + c.Principal.TokenPrefix, "tenant.deleted staff:bob@example.com"})
	if fmt.Sprint(types) != wantTypes {
		t.Errorf("events:\n got %v\nwant %v", types, wantTypes)
	}
	var d map[string]any
	_ = json.Unmarshal(evs[len(evs)-1].Data, &d)
	if d["id"] != id {
		t.Errorf("tenant.deleted data: %v", d)
	}

	// A tenant created again with the same id numbers its events from 1,
	// after the old one's tenant.deleted.
	_, tok, err := e.tenants.CreateTenant(ctx, tenant.NewTenant{ID: id, Plan: tenant.PlanEnterprise}, "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := credential.NewService(e.tenants).Authenticate(ctx, tok.Secret)
	if err != nil {
		t.Fatal(err)
	}
	e.createUser(directory.Caller{Principal: p}, "again")
	q.After = evs[len(evs)-1].Cursor
	if again := e.readAll(q, 1); len(again) != 1 || again[0].Sequence != 1 || again[0].Type != events.UserCreated {
		t.Errorf("after the tenant was created again: %+v", again)
	}
}

// TestPollWakes: a long poll waiting on an idle feed returns the event of
// a write made after it started, well before its wait is over.
func TestPollWakes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.tenant(false)
	q := events.Query{Tenant: c.Principal.Tenant.ID}
	start := time.Now()
	got := make(chan *events.Page, 1)
	go func() {
		p, err := e.feed.Poll(context.Background(), q, 30*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- p
	}()
	time.Sleep(200 * time.Millisecond)
	e.createUser(c, "late")
	p := <-got
	if len(p.Events) != 1 || p.Events[0].Type != events.UserCreated {
		t.Fatalf("poll: %+v", p)
	}
	if waited := time.Since(start); waited > 20*time.Second {
		t.Errorf("the poll returned after %s, not when the event came", waited)
	}
	if p.Next != p.Events[0].Cursor {
		t.Errorf("next %q, want the last event's cursor %q", p.Next, p.Events[0].Cursor)
	}
}

// TestFeedQueries: bad queries are refused; an unknown tenant, or one
// outside the scope, gives the same empty page as a quiet tenant.
func TestFeedQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	c := e.tenant(false)
	id := c.Principal.Tenant.ID
	e.createUser(c, "u")
	e.readAll(events.Query{Tenant: id}, 1)
	for _, q := range []events.Query{{After: "x"}, {After: "-1"}, {Limit: -1}, {Limit: events.MaxLimit + 1}, {Types: []string{"user.exploded"}}} {
		if _, err := e.feed.Find(ctx, q); err == nil {
			t.Errorf("%+v: no error", q)
		}
	}
	for _, q := range []events.Query{{Tenant: "nosuch", After: "5"}, {Tenant: id, Scope: []string{"other"}, After: "5"}, {Tenant: "BAD!", After: "5"}} {
		p, err := e.feed.Find(ctx, q)
		if err != nil || len(p.Events) != 0 || p.Next != "5" {
			t.Errorf("%+v: %+v, %v", q, p, err)
		}
	}
	p, err := e.feed.Find(ctx, events.Query{Tenant: id, Types: []string{events.UserDeleted}})
	if err != nil || len(p.Events) != 0 {
		t.Errorf("type filter: %+v, %v", p, err)
	}
}

// TestRetention: events older than the retention leave the feed and the
// tenant's outbox; newer ones stay.
func TestRetention(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t) // its own database: this prunes everything
	ctx := context.Background()
	tenants := tenant.NewService(db)
	_, tok, err := tenants.CreateTenant(ctx, tenant.NewTenant{ID: "kept", Plan: tenant.PlanEnterprise}, "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := credential.NewService(tenants).Authenticate(ctx, tok.Secret)
	if err != nil {
		t.Fatal(err)
	}
	c := directory.Caller{Principal: p}
	dir := directory.NewService(db)
	for _, name := range []string{"old1", "old2"} {
		b := map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name}
		if _, err := dir.Create(ctx, c, scim.UserResource, b); err != nil {
			t.Fatal(err)
		}
	}
	feed := events.NewService(db, time.Hour, nil)
	if err := feed.Relay(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	// The first event is two hours old.
	if _, err := db.ExecContext(ctx, `UPDATE control.events SET at = now() - interval '2 hours' WHERE tenant_id = 'kept' AND sequence = 1`); err != nil {
		t.Fatal(err)
	}
	err = db.InTenant(ctx, p.Tenant.Scope(), func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE events SET at = now() - interval '2 hours' WHERE sequence = 1`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	feed.Prune(ctx)
	if err := feed.Relay(ctx, "kept"); err != nil { // prunes the outbox
		t.Fatal(err)
	}
	page, err := feed.Find(ctx, events.Query{Tenant: "kept"})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 1 || page.Events[0].Sequence != 2 {
		t.Errorf("feed after pruning: %+v", page.Events)
	}
	evs, err := events.FindTenantEvents(ctx, db, p.Tenant.Scope(), 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Sequence != 2 {
		t.Errorf("outbox after pruning: %+v", evs)
	}
}

// TestStartCatchesUp: events whose signal no relay heard, as none ran,
// reach the feed once a relay starts, each once and in order: a tenant's
// writes, a strict tenant's, a staff event waiting for its place; a tenant
// relayed already keeps its events once.
func TestStartCatchesUp(t *testing.T) {
	t.Parallel()
	db := storetest.NewDB(t) // its own database: no other test's relay hears it
	ctx := context.Background()
	tenants := tenant.NewService(db)
	dir := directory.NewService(db)
	caller := func(id string, strict bool) directory.Caller {
		_, tok, err := tenants.CreateTenant(ctx, tenant.NewTenant{ID: id, Plan: tenant.PlanEnterprise, Strict: strict}, "test")
		if err != nil {
			t.Fatal(err)
		}
		p, err := credential.NewService(tenants).Authenticate(ctx, tok.Secret)
		if err != nil {
			t.Fatal(err)
		}
		return directory.Caller{Principal: p}
	}
	create := func(c directory.Caller, name string) {
		b := map[string]any{"schemas": []any{"urn:ietf:params:scim:schemas:core:2.0:User"}, "userName": name}
		if _, err := dir.Create(ctx, c, scim.UserResource, b); err != nil {
			t.Fatal(err)
		}
	}
	written, strict, relayed := caller("catchup1", false), caller("catchup2", true), caller("catchup3", false)
	caller("catchup4", false)
	create(relayed, "early")
	if err := events.NewService(db, 0, nil).Relay(ctx, "catchup3"); err != nil {
		t.Fatal(err)
	}
	create(written, "one")
	create(written, "two")
	create(strict, "three")
	if _, _, err := tenants.SetStatus(ctx, "catchup4", tenant.StatusSuspended, "staff:ann@example.com"); err != nil {
		t.Fatal(err)
	}

	feed := events.NewService(db, 0, nil)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); feed.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	var all []events.Event
	var q events.Query
	for deadline := time.Now().Add(30 * time.Second); len(all) < 5 && time.Now().Before(deadline); {
		p, err := feed.Poll(ctx, q, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Events...)
		q.After = p.Next
	}
	time.Sleep(200 * time.Millisecond) // and nothing more
	p, err := feed.Poll(ctx, q, 0)
	if err != nil {
		t.Fatal(err)
	}
	all = append(all, p.Events...)
	checkSequences(t, all, map[string]int{"catchup1": 2, "catchup2": 1, "catchup3": 1, "catchup4": 1})
	if len(all) != 5 {
		var got []string
		for _, e := range all {
			got = append(got, fmt.Sprintf("%s %d %s", e.TenantID, e.Sequence, e.Type))
		}
		t.Errorf("%d events in the feed, want 5: %v", len(all), got)
	}
}
