package events

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/store"
)

// FeedChannel is the NOTIFY channel the relay signals when it has copied
// events into the feed, to wake long polls in every instance.
const FeedChannel = "bulkhead_feed"

// DefaultRetention is how long events are kept when Service.Retention is 0.
const DefaultRetention = 30 * 24 * time.Hour

// relayLock is the advisory lock the relay's transactions take, so that
// one copies at a time across instances: feed positions are then assigned
// in the order the copies commit. Its class 0x6576 ("ev") is no other
// lock's.
const relayLock = `SELECT pg_advisory_xact_lock(25974, 1)`

// pruneBatch is how many rows one pruning statement deletes, so that
// pruning never holds many locks or a long transaction.
const pruneBatch = 500

// relayBatch is the most events of one tenant one relay copies; it goes
// on in another.
const relayBatch = 1000

// Service relays tenants' events into the feed, prunes them past their
// retention, and answers the events API (Find, Poll). Run it in every
// instance: relays take turns.
type Service struct {
	DB        *store.DB
	Retention time.Duration // DefaultRetention when 0
	Log       *slog.Logger

	mu      sync.Mutex
	pending map[string]bool
	kick    chan struct{}
}

// NewService returns a service over db; Run starts its relay.
func NewService(db *store.DB, retention time.Duration, log *slog.Logger) *Service {
	if retention <= 0 {
		retention = DefaultRetention
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{DB: db, Retention: retention, Log: log, pending: map[string]bool{}, kick: make(chan struct{}, 1)}
}

// sweepEvery is how often the relay looks at every tenant, for events
// whose signal was lost (an instance that stopped between a write's commit
// and its relay, with no listener up elsewhere). Rarely: a sweep enters
// every tenant's schema, one short transaction each.
const sweepEvery = time.Hour

// relayDelay is how long the relay waits after a wake for more, the most
// it adds to the delay from commit to feed.
const relayDelay = 50 * time.Millisecond

// running holds the services running in this process, which Committed
// wakes.
var running struct {
	sync.Mutex
	services map[*Service]bool
}

// Committed tells the relays of this process that the tenant committed
// events, so that they copy them at once. Writes also signal Channel, for
// the other instances; Committed does not depend on LISTEN, which a
// transaction pooler in front of the listening connection would silence.
func Committed(tenantID string) {
	running.Lock()
	defer running.Unlock()
	for s := range running.services {
		s.wakeRelay(tenantID)
	}
}

// Run relays until ctx ends: it catches up with every tenant at start, then
// relays each tenant whose writes signal Channel or call Committed, every
// tenant with staff events waiting, and every tenant now and then; and it
// prunes.
func (s *Service) Run(ctx context.Context) {
	running.Lock()
	if running.services == nil {
		running.services = map[*Service]bool{}
	}
	running.services[s] = true
	running.Unlock()
	defer func() {
		running.Lock()
		delete(running.services, s)
		running.Unlock()
	}()
	go s.listen(ctx)
	s.relayAll(ctx)
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	lastPrune, lastSweep := time.Time{}, time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
			// Gather the wakes of a burst of writes into one copy per
			// tenant: under load the relay then runs a few times a
			// second rather than once per write.
			select {
			case <-time.After(relayDelay):
			case <-ctx.Done():
				return
			}
		case <-tick.C:
			s.relayWaiting(ctx)
			if time.Since(lastPrune) > time.Minute {
				lastPrune = time.Now()
				s.prune(ctx)
			}
			if time.Since(lastSweep) > sweepEvery {
				lastSweep = time.Now()
				s.wakeRelay("")
			}
		}
		s.mu.Lock()
		ids := s.pending
		s.pending = map[string]bool{}
		s.mu.Unlock()
		if ids[""] {
			s.relayAll(ctx)
			continue
		}
		for id := range ids {
			if err := s.Relay(ctx, id); err != nil && ctx.Err() == nil {
				s.Log.Warn("relay events", "tenant", id, "error", err)
			}
		}
	}
}

// wakeRelay asks the relay to copy the tenant's events ("" for every
// tenant's).
func (s *Service) wakeRelay(tenantID string) {
	s.mu.Lock()
	s.pending[tenantID] = true
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// feedGrew wakes what waits on Grown: this process's long polls and
// webhook deliveries.
func (s *Service) feedGrew() {
	processFeed.Lock()
	close(processFeed.grown)
	processFeed.grown = make(chan struct{})
	processFeed.Unlock()
}

// processFeed is closed and replaced whenever a relay of this process
// copies events into the feed or hears that another instance's did.
var processFeed = struct {
	sync.Mutex
	grown chan struct{}
}{grown: make(chan struct{})}

// Grown returns a channel closed the next time the feed grows, as this
// process learns of it (see processFeed): long polls and webhook
// deliveries wait on it. What this process relays wakes them at once, even
// where LISTEN does not work (behind a transaction pooler without a direct
// listen connection); what other instances relay, through FeedChannel.
func Grown() <-chan struct{} {
	processFeed.Lock()
	defer processFeed.Unlock()
	return processFeed.grown
}

// listen subscribes to the process's LISTEN connection (store.DB.Subscribe):
// Channel wakes the relay for a tenant, FeedChannel this instance's long
// polls. After a reconnect anything may have been missed: the relay
// catches up with every tenant and the long polls look again.
func (s *Service) listen(ctx context.Context) {
	subscribe := func(channel string, notified func(payload string)) {
		err := s.DB.Subscribe(ctx, channel, func(ev store.Event) {
			switch ev.Kind {
			case store.Notified:
				notified(ev.Payload)
			case store.Reconnected:
				s.wakeRelay("")
				s.feedGrew()
			}
		})
		if err != nil && ctx.Err() == nil {
			s.Log.Warn("listen for events", "channel", channel, "error", err)
		}
	}
	subscribe(Channel, s.wakeRelay)
	subscribe(FeedChannel, func(string) { s.feedGrew() })
}

// relayAll relays every tenant whose events the feed may lack, for
// signals that were lost: the tenants with staff events waiting, and those
// whose outbox holds events past their relay position or old enough to
// prune. Whether it does is read with one short transaction in the
// tenant's schema (behind), a few round trips where Relay takes a dozen
// and the relay lock: at 10,000 tenants, relaying every one after each
// start kept the database busy for minutes. Events committed after a
// tenant's look come with their own signal.
func (s *Service) relayAll(ctx context.Context) {
	var ts []struct {
		ID        string `db:"id"`
		Isolation string `db:"isolation"`
		Relayed   int64  `db:"relayed"`
		Waiting   bool   `db:"waiting"`
	}
	const q = `
		SELECT t.id, t.isolation, coalesce(r.relayed, 0) AS relayed,
			EXISTS (SELECT 1 FROM control.event_outbox o WHERE o.tenant_id = t.id) AS waiting
		FROM control.tenants t LEFT JOIN control.event_relay r ON r.tenant_id = t.id
		WHERE t.status <> 'deleting' ORDER BY t.id`
	if err := s.DB.SelectContext(ctx, &ts, q); err != nil {
		if ctx.Err() == nil {
			s.Log.Warn("relay events: list tenants", "error", err)
		}
		return
	}
	for _, t := range ts {
		if !t.Waiting {
			// A tenant that cannot be looked at (gone meanwhile, say) is
			// left to Relay, which knows what to do with it.
			if behind, err := s.behind(ctx, store.ScopeOf(t.ID, t.Isolation), t.Relayed); err == nil && !behind {
				continue
			}
		}
		if err := s.Relay(ctx, t.ID); err != nil && ctx.Err() == nil {
			s.Log.Warn("relay events", "tenant", t.ID, "error", err)
		}
	}
}

// behind reports whether the tenant's outbox holds events past relayed,
// the tenant's relay position, or events Relay would prune.
func (s *Service) behind(ctx context.Context, scope store.Scope, relayed int64) (bool, error) {
	var last int64
	var oldest sql.NullTime
	err := s.DB.InTenant(ctx, scope, func(tx *sqlx.Tx) error {
		if ok, err := hasOutbox(ctx, tx, scope.TenantID); !ok || err != nil {
			return err
		}
		const q = `SELECT coalesce(max(sequence), 0), (SELECT at FROM events ORDER BY sequence LIMIT 1) FROM events`
		return tx.QueryRowxContext(ctx, q).Scan(&last, &oldest)
	})
	return last > relayed || oldest.Valid && oldest.Time.Before(time.Now().Add(-s.Retention)), err
}

// relayWaiting relays the tenants with staff events waiting for their place,
// in case their signal was missed.
func (s *Service) relayWaiting(ctx context.Context) {
	var ids []string
	if err := s.DB.SelectContext(ctx, &ids, `SELECT DISTINCT tenant_id FROM control.event_outbox`); err != nil {
		return
	}
	for _, id := range ids {
		s.wakeRelay(id)
	}
}

// Enqueue records a staff operation's events about a tenant in the
// operation's control transaction tx; the relay gives them their place in
// the tenant's sequence moments after it commits.
func Enqueue(ctx context.Context, tx *sqlx.Tx, tenantID, actor string, evs ...New) error {
	for _, e := range evs {
		b, err := json.Marshal(e.Data)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.Type, err)
		}
		const q = `INSERT INTO control.event_outbox (id, tenant_id, type, actor, data) VALUES ($1, $2, $3, $4, $5)`
		if _, err := tx.ExecContext(ctx, q, newID(), tenantID, e.Type, actor, string(b)); err != nil {
			return fmt.Errorf("enqueue event %s: %w", e.Type, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify('`+Channel+`', $1)`, tenantID); err != nil {
		return fmt.Errorf("enqueue events: %w", err)
	}
	return nil
}

// waiting is a staff event waiting in control.event_outbox.
type waiting struct {
	N      int64     `db:"n"`
	ID     string    `db:"id"`
	Type   string    `db:"type"`
	At     time.Time `db:"at"`
	Actor  string    `db:"actor"`
	Data   string    `db:"data"`
	Placed bool      `db:"-"`
}

// Relay copies the tenant's committed events not yet in the feed into it,
// after giving the staff events waiting for the tenant their place in its
// sequence. It runs under the relay lock, so relays take turns. It is
// safe to repeat: what was copied already is not copied again.
func (s *Service) Relay(ctx context.Context, tenantID string) error {
	copied := 0
	err := s.DB.Transact(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, relayLock); err != nil {
			return err
		}
		var isolation string
		err := tx.GetContext(ctx, &isolation, `SELECT isolation FROM control.tenants WHERE id = $1 AND status <> 'deleting'`, tenantID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // gone, or going: DeleteTenant finishes its events
		} else if err != nil {
			return fmt.Errorf("find tenant: %w", err)
		}
		var ws []waiting
		const qw = `SELECT n, id, type, at, actor, data FROM control.event_outbox WHERE tenant_id = $1 ORDER BY n`
		if err := tx.SelectContext(ctx, &ws, qw, tenantID); err != nil {
			return fmt.Errorf("read waiting events: %w", err)
		}
		var relayed int64
		if err := tx.GetContext(ctx, &relayed, `SELECT coalesce((SELECT relayed FROM control.event_relay WHERE tenant_id = $1), 0)`, tenantID); err != nil {
			return fmt.Errorf("read relay position: %w", err)
		}
		scope := store.ScopeOf(tenantID, isolation)
		var evs []Event
		err = s.DB.InTenant(ctx, scope, func(ttx *sqlx.Tx) error {
			if ok, err := hasOutbox(ctx, ttx, tenantID); !ok || err != nil {
				return err // not migrated yet: staff events wait for it
			}
			if err := place(ctx, ttx, tenantID, ws); err != nil {
				return err
			}
			var err error
			evs, err = readOutbox(ctx, ttx, tenantID, relayed, relayBatch, nil)
			if err != nil {
				return err
			}
			// The tenant's outbox keeps what the feed holds as long as the
			// feed does, for FindTenantEvents; older rows go, looking at the
			// oldest batch only, so that a large outbox costs nothing here.
			const prune = `DELETE FROM events WHERE sequence IN (SELECT sequence FROM events ORDER BY sequence LIMIT $3)
				AND sequence <= $1 AND at < $2`
			_, err = ttx.ExecContext(ctx, prune, relayed, time.Now().Add(-s.Retention), pruneBatch)
			return err
		})
		if err != nil {
			return err
		}
		for _, w := range ws {
			if w.Placed {
				if _, err := tx.ExecContext(ctx, `DELETE FROM control.event_outbox WHERE n = $1`, w.N); err != nil {
					return fmt.Errorf("delete placed event: %w", err)
				}
			}
		}
		copied = len(evs)
		return insertFeed(ctx, tx, tenantID, evs)
	})
	if err == nil && copied > 0 {
		s.feedGrew()
	}
	if err == nil && copied == relayBatch {
		s.wakeRelay(tenantID) // more to copy
	}
	return err
}

// place appends the waiting staff events to the tenant's outbox, keeping
// their ids, unless an earlier relay placed them and failed before it
// could forget them: only the relay places them, and it runs alone.
func place(ctx context.Context, tx *sqlx.Tx, tenantID string, ws []waiting) error {
	for i := range ws {
		w := &ws[i]
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM events WHERE id = $1`, w.ID); err != nil {
			return fmt.Errorf("place event: %w", err)
		}
		if n == 0 {
			e := New{Type: w.Type, Data: json.RawMessage(w.Data)}
			if err := appendEvents(ctx, tx, tenantID, w.Actor, []string{w.ID}, &w.At, []New{e}); err != nil {
				return err
			}
		}
		w.Placed = true
	}
	return nil
}

// insertFeed appends the tenant's events, in sequence order, to the feed in
// the relay's transaction tx, which holds the relay lock, records how far
// the tenant is relayed, and signals FeedChannel at commit.
func insertFeed(ctx context.Context, tx *sqlx.Tx, tenantID string, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	ids := make([]string, len(evs))
	seqs := make([]int64, len(evs))
	types := make([]string, len(evs))
	ats := make([]string, len(evs))
	actors := make([]string, len(evs))
	data := make([]string, len(evs))
	for i, e := range evs {
		ids[i], seqs[i], types[i], actors[i], data[i] = e.ID, e.Sequence, e.Type, e.Actor, string(e.Data)
		ats[i] = e.Time.Format(time.RFC3339Nano)
	}
	// ORDER BY: positions are drawn in the order rows are inserted.
	const q = `INSERT INTO control.events (id, tenant_id, sequence, type, at, actor, data)
		SELECT e.id, $1, e.sequence, e.type, e.at, e.actor, e.data
		FROM unnest($2::uuid[], $3::bigint[], $4::text[], $5::timestamptz[], $6::text[], $7::jsonb[]) AS e (id, sequence, type, at, actor, data)
		ORDER BY e.sequence
		ON CONFLICT (id) DO NOTHING`
	if _, err := tx.ExecContext(ctx, q, tenantID, pq.Array(ids), pq.Array(seqs), pq.Array(types), pq.Array(ats), pq.Array(actors), pq.Array(data)); err != nil {
		return fmt.Errorf("copy events to the feed: %w", err)
	}
	const qr = `INSERT INTO control.event_relay (tenant_id, relayed) VALUES ($1, $2)
		ON CONFLICT (tenant_id) DO UPDATE SET relayed = greatest(control.event_relay.relayed, EXCLUDED.relayed)`
	if _, err := tx.ExecContext(ctx, qr, tenantID, seqs[len(seqs)-1]); err != nil {
		return fmt.Errorf("record relay position: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify('`+FeedChannel+`', '')`); err != nil {
		return fmt.Errorf("signal the feed: %w", err)
	}
	return nil
}

// Finish copies the rest of a tenant's events into the feed, with the staff
// events waiting for it, and then tenant.deleted as its last, in
// DeleteTenant's control transaction tx, before that drops the tenant's
// schema. It takes the relay lock, then the tenant's lock, which waits
// for the tenant's transactions to end and keeps new ones out (relays
// take them in that order too, so the two never wait for each other).
// The tenant's schema being at rest, its outbox is read by name here, the
// one place outside store.InTenant, as DropTenantSchema drops it by name.
func Finish(ctx context.Context, db *store.DB, tx *sqlx.Tx, tenantID, actor string) error {
	if _, err := tx.ExecContext(ctx, relayLock); err != nil {
		return fmt.Errorf("wait for the relay: %w", err)
	}
	if err := db.LockTenant(ctx, tx, tenantID); err != nil {
		return err
	}
	var relayed int64
	if err := tx.GetContext(ctx, &relayed, `SELECT coalesce((SELECT relayed FROM control.event_relay WHERE tenant_id = $1), 0)`, tenantID); err != nil {
		return fmt.Errorf("read relay position: %w", err)
	}
	outbox := pq.QuoteIdentifier(store.SchemaName(tenantID)) + ".events"
	var exists bool
	if err := tx.GetContext(ctx, &exists, `SELECT to_regclass($1) IS NOT NULL`, outbox); err != nil {
		return fmt.Errorf("look for the outbox: %w", err)
	}
	var evs []Event
	if exists {
		rows, err := tx.QueryContext(ctx, `SELECT id, sequence, type, at, actor, data FROM `+outbox+` WHERE sequence > $1 ORDER BY sequence`, relayed)
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		if evs, err = scanOutbox(rows, tenantID); err != nil {
			return err
		}
	}
	last := relayed
	if len(evs) > 0 {
		last = evs[len(evs)-1].Sequence
	}
	var ws []waiting
	const qw = `DELETE FROM control.event_outbox WHERE tenant_id = $1 RETURNING n, id, type, at, actor, data`
	if err := tx.SelectContext(ctx, &ws, qw, tenantID); err != nil {
		return fmt.Errorf("read waiting events: %w", err)
	}
	slices.SortFunc(ws, func(a, b waiting) int { return cmp.Compare(a.N, b.N) })
	for _, w := range ws {
		last++
		evs = append(evs, Event{ID: w.ID, TenantID: tenantID, Sequence: last, Type: w.Type, Time: w.At, Actor: w.Actor, Data: json.RawMessage(w.Data)})
	}
	data, _ := json.Marshal(map[string]string{"id": tenantID})
	evs = append(evs, Event{ID: newID(), TenantID: tenantID, Sequence: last + 1, Type: TenantDeleted, Time: time.Now(), Actor: actor, Data: data})
	if err := insertFeed(ctx, tx, tenantID, evs); err != nil {
		return err
	}
	// A tenant created again with this id starts again at 1.
	if _, err := tx.ExecContext(ctx, `DELETE FROM control.event_relay WHERE tenant_id = $1`, tenantID); err != nil {
		return fmt.Errorf("forget relay position: %w", err)
	}
	return nil
}

// prune deletes the feed's events past retention, a batch at a time.
func (s *Service) prune(ctx context.Context) {
	const q = `DELETE FROM control.events WHERE position IN (
		SELECT position FROM control.events WHERE at < $1 ORDER BY position LIMIT $2)`
	cutoff := time.Now().Add(-s.Retention)
	for ctx.Err() == nil {
		res, err := s.DB.ExecContext(ctx, q, cutoff, pruneBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.Log.Warn("prune events", "error", err)
			}
			return
		}
		if n, _ := res.RowsAffected(); n < pruneBatch {
			return
		}
	}
}
