package web_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// BenchmarkEventsWriteCost measures what directory events cost SCIM
// writes: user creations over real HTTP, 4 concurrent clients, in three
// tenants taking turns (6 rounds of 3 s each, the order rotating): one at
// the tenant schema version before the outbox, whose writes append no
// event (the code checks for the table instead, one statement as the
// append is one); one with events and an empty outbox; one with events and
// 200,000 events retained in its outbox and in the feed. The server's
// relay copies the events into the feed meanwhile, as in production.
func BenchmarkEventsWriteCost(b *testing.B) {
	setup(b)
	ctx := context.Background()
	outboxVersion := len(store.TenantMigrations)
	for i, m := range store.TenantMigrations {
		if m.Name == "events" {
			outboxVersion = i + 1
		}
	}
	mk := func(id string, migrations []store.Migration) *client {
		s := tenant.NewService(env.db)
		s.Migrations = migrations
		tn, tok, err := s.CreateTenant(ctx, tenant.NewTenant{ID: id, Plan: tenant.PlanEnterprise}, "bench")
		if err != nil {
			b.Fatal(err)
		}
		return &client{t: b, tenant: tn.ID, token: tok.Secret, prefix: "/tenants/" + tn.ID + "/scim/v2"}
	}
	off := mk("evoff", store.TenantMigrations[:outboxVersion-1])
	on := mk("evon", store.TenantMigrations)
	full := mk("evfull", store.TenantMigrations)
	const retained = 200000
	start := time.Now()
	err := env.db.InTenant(ctx, store.Scope{TenantID: full.tenant, Timeout: -1}, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (sequence, id, type, actor, data)
			SELECT n, gen_random_uuid(), 'user.updated', 'bench', jsonb_build_object('id', gen_random_uuid(), 'userName', 'u' || n)
			FROM generate_series(1, $1::bigint) AS n`, retained); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE event_sequence SET last = $1`, retained)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	// The feed's copy, as the relay would have made it (a test may name a
	// tenant's schema; the code may not).
	if _, err := env.db.ExecContext(ctx, `INSERT INTO control.events (id, tenant_id, sequence, type, at, actor, data)
		SELECT id, $1, sequence, type, at, actor, data FROM tenant_evfull.events ORDER BY sequence`, full.tenant); err != nil {
		b.Fatal(err)
	}
	if _, err := env.db.ExecContext(ctx, `INSERT INTO control.event_relay (tenant_id, relayed) VALUES ($1, $2)
		ON CONFLICT (tenant_id) DO UPDATE SET relayed = EXCLUDED.relayed`, full.tenant, retained); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d retained events in %s", retained, time.Since(start).Round(time.Millisecond))

	arms := []struct {
		name string
		c    *client
		n    atomic.Int64
		took time.Duration
	}{{name: "no outbox (schema before it)", c: off}, {name: "events, outbox empty", c: on}, {name: fmt.Sprintf("events, %d retained", retained), c: full}}
	const rounds, round, clients = 6, 3 * time.Second, 4
	var seq atomic.Int64
	for r := range rounds {
		for k := range arms {
			a := &arms[(k+r)%len(arms)]
			deadline := time.Now().Add(round)
			var wg sync.WaitGroup
			t0 := time.Now()
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for time.Now().Before(deadline) {
						resp := a.c.do("POST", "/Users", user(fmt.Sprintf("b%d", seq.Add(1))))
						if resp.Status != http.StatusCreated {
							b.Errorf("create: %d %.200s", resp.Status, resp.Raw)
							return
						}
						a.n.Add(1)
					}
				}()
			}
			wg.Wait()
			a.took += time.Since(t0)
		}
	}
	base := float64(arms[0].n.Load()) / arms[0].took.Seconds()
	fmt.Fprintf(os.Stdout, "\nUser creations over HTTP, %d clients, %d rounds of %s per arm, in turns:\n\n| arm | creates/s | against no outbox |\n|---|---:|---:|\n", clients, rounds, round)
	for i := range arms {
		a := &arms[i]
		rate := float64(a.n.Load()) / a.took.Seconds()
		fmt.Fprintf(os.Stdout, "| %s | %.0f | %.2f |\n", a.name, rate, rate/base)
	}
	var copied int64
	if err := env.db.GetContext(ctx, &copied, `SELECT count(*) FROM control.events WHERE tenant_id = $1`, on.tenant); err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "\nThe relay had copied %d of the %d events of the empty-outbox arm into the feed when the last round ended.\n", copied, arms[1].n.Load())
}
