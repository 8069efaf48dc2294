package credential

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// changesChannel is the PostgreSQL NOTIFY channel on which triggers in the
// control schema announce every change to a tenant, its permissions or its
// tokens, with the tenant id as payload (schema/control/004_change_notify.sql).
const changesChannel = "bulkhead_tenant_changes"

// Auth authenticates SCIM bearer tokens with a cache in front of the
// database. Any change made anywhere — this instance, another one, the CLI
// — evicts entries at once through PostgreSQL LISTEN/NOTIFY, so a revoked
// token or a changed permission is in force everywhere within moments.
// Entries live at most cacheTTL, and never past their token's expiry. The
// cache holds at most MaxCachedTokens entries, so memory does not grow with
// the number of tenants.
//
// The cache is used only while notifications provably arrive: after
// (re)connecting, Run sends a probe NOTIFY through the pool and turns the
// cache on when the probe comes back on the listening connection. Behind a
// transaction pooler such as PgBouncer, LISTEN on the pooled DSN never
// delivers, so the probe never returns and every call reads the database;
// give the pool a direct ListenDSN (BULKHEAD_LISTEN_DATABASE_URL) to cache.
type Auth struct {
	svc *Service
	ttl time.Duration
	log *slog.Logger

	mu        sync.Mutex
	entries   map[[32]byte]authEntry
	listening bool
	up        chan struct{}            // closed while listening (Listening)
	syncs     map[string]chan struct{} // pending Sync calls, by their notification's payload
	probe     string                   // payload of this instance's probe notification
	gen       uint64                   // bumped by every eviction, so a lookup racing one is not cached
	used      map[uuid.UUID]bool       // tokens used since the last flush of last_used_at

	credsCache  map[string]credsEntry // by tenant id, for JWTs and the gateway (credentials.go)
	usedIssuers map[uuid.UUID]bool    // JWT issuers used since the last flush
}

type authEntry struct {
	p       *Principal
	expires time.Time
}

// NewAuth returns an Auth over svc. Call Run to listen for changes; until
// it listens, every call reads the database.
func NewAuth(svc *Service, log *slog.Logger) *Auth {
	return &Auth{svc: svc, ttl: cacheTTL, log: log, entries: map[[32]byte]authEntry{}, used: map[uuid.UUID]bool{},
		credsCache: map[string]credsEntry{}, usedIssuers: map[uuid.UUID]bool{},
		up: make(chan struct{}), syncs: map[string]chan struct{}{}, probe: "probe:" + uuid.NewString()}
}

// cacheTTL is how long a cached principal lives. Notifications, not the
// TTL, keep the cache true; it only bounds how long an entry could outlive
// a notification lost in a way nobody noticed. It is long enough that a
// tenant its identity provider calls every few minutes finds its token
// cached: with 10,000 tenants at 150 requests/s, a tenant's requests come
// 67 s apart on average, so a one-minute TTL would send about four in ten
// (e^-0.9) to the database.
const cacheTTL = 10 * time.Minute

// MaxCachedTokens bounds the token cache, and the cache of tenants'
// JWT and gateway credentials. Past it, expired entries go first, then
// arbitrary ones: a miss costs one indexed read. It leaves room for
// 10,000 tenants with a few tokens each (rotation keeps two alive for a
// while); a cached token takes about 450 bytes (22 MB when full; JWT
// credentials take more, with their issuers' keys).
const MaxCachedTokens = 50000

// Authenticate returns the principal of a bearer token, from the cache when
// it can. It returns EUNAUTHORIZED for any token that does not work.
func (a *Auth) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if !strings.HasPrefix(secret, tenant.TokenPrefix) || len(secret) > 100 {
		return nil, errUnauthorized
	}
	var buf [100]byte // secret fits (checked above); []byte(secret) would be a heap copy
	hash := sha256.Sum256(append(buf[:0], secret...))
	now := time.Now()
	a.mu.Lock()
	e, ok := a.entries[hash]
	cached := ok && a.listening && now.Before(e.expires)
	gen := a.gen
	a.mu.Unlock()
	if cached {
		a.markUsed(e.p.TokenID)
		return e.p, nil
	}
	key := hash // the query keeps its argument: a copy, so that hash itself stays off the heap on a cache hit
	p, err := a.svc.principal(ctx, key[:])
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.listening && a.gen == gen {
		if len(a.entries) >= MaxCachedTokens {
			shrink(a.entries, now, func(e authEntry) time.Time { return e.expires })
		}
		expires := now.Add(a.ttl)
		if p.TokenExpires != nil && p.TokenExpires.Before(expires) {
			expires = *p.TokenExpires
		}
		a.entries[hash] = authEntry{p: p, expires: expires}
	}
	a.mu.Unlock()
	a.markUsed(p.TokenID)
	return p, nil
}

// shrink makes room in a full cache: it drops expired entries, and when
// that is not enough, an eighth of the entries, whichever map order yields.
// Callers hold a.mu.
func shrink[K comparable, V any](m map[K]V, now time.Time, expires func(V) time.Time) {
	for k, e := range m {
		if !now.Before(expires(e)) {
			delete(m, k)
		}
	}
	if len(m) < MaxCachedTokens {
		return
	}
	for k := range m {
		if len(m) < MaxCachedTokens*7/8 {
			break
		}
		delete(m, k)
	}
}

func (a *Auth) markUsed(id uuid.UUID) {
	a.mu.Lock()
	a.used[id] = true
	a.mu.Unlock()
}

// evict drops the cached principals of a tenant, or all of them when
// tenantID is empty.
func (a *Auth) evict(tenantID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	for k, e := range a.entries {
		if tenantID == "" || e.p.Tenant.ID == tenantID {
			delete(a.entries, k)
		}
	}
	if tenantID == "" {
		a.credsCache = map[string]credsEntry{}
	}
	delete(a.credsCache, tenantID)
}

func (a *Auth) setListening(on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case on && !a.listening:
		close(a.up)
	case !on && a.listening:
		a.up = make(chan struct{})
	}
	a.listening = on
	a.gen++
	a.entries = map[[32]byte]authEntry{}
	a.credsCache = map[string]credsEntry{}
	if !on {
		// Their notifications may be lost; with the cache off, every
		// call reads the database, which is what they wait for.
		for payload, done := range a.syncs {
			close(done)
			delete(a.syncs, payload)
		}
	}
}

// Listening returns a channel that is closed once the cache is on: the
// listener has seen its probe come back, so every change made from then on
// reaches this instance. Until then every call reads the database. Tests
// wait on it, so that what they change goes through the cache's path.
func (a *Auth) Listening() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.up
}

// Sync returns once every change committed before it was called is in
// force here: it sends a notification of its own through the pool and
// waits for Run to take it from the listening connection. PostgreSQL
// delivers notifications in the order their transactions committed, so
// every earlier change has been evicted by then. While the cache is off it
// returns at once, since every call reads the database. Tests call it
// after a change instead of polling for its effect.
func (a *Auth) Sync(ctx context.Context) error {
	a.mu.Lock()
	if !a.listening {
		a.mu.Unlock()
		return nil
	}
	payload, done := "probe:sync:"+uuid.NewString(), make(chan struct{})
	a.syncs[payload] = done
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.syncs, payload)
		a.mu.Unlock()
	}()
	if _, err := a.svc.DB.ExecContext(ctx, `SELECT pg_notify($1, $2)`, changesChannel, payload); err != nil {
		return fmt.Errorf("sync with the tenant change listener: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sync with the tenant change listener: %w", ctx.Err())
	}
}

// synced ends the Sync call that sent payload, if it is one of this
// instance's.
func (a *Auth) synced(payload string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if done, ok := a.syncs[payload]; ok {
		close(done)
		delete(a.syncs, payload)
	}
}

// Run listens for tenant changes, on the process's one LISTEN connection
// (store.DB.Subscribe), and writes tokens' last use every few seconds,
// until ctx ends; then it writes the last uses once more.
func (a *Auth) Run(ctx context.Context) {
	err := a.svc.DB.Subscribe(ctx, changesChannel, func(e store.Event) {
		switch e.Kind {
		case store.Lost:
			a.setListening(false)
			if e.Err != nil {
				a.log.Warn("tenant change listener disconnected; authenticating without cache", "error", e.Err)
			}
		case store.Reconnected: // anything may have changed
			a.evict("")
			go a.sendProbe(ctx)
		case store.Notified:
			switch {
			case e.Payload == a.probe:
				a.setListening(true)
			case strings.HasPrefix(e.Payload, "probe:"): // a Sync's, or another instance's
				a.synced(e.Payload)
			default:
				a.evict(e.Payload)
			}
		}
	})
	if err != nil && ctx.Err() == nil {
		a.log.Warn("listen for tenant changes", "error", err)
	} else if err == nil {
		a.sendProbe(ctx)
	}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			a.flushUsed(ctx)
		case <-ctx.Done():
			a.flushUsed(context.Background())
			return
		}
	}
}

// sendProbe sends this instance's probe notification through the pool;
// the cache turns on when it arrives on the listening connection.
func (a *Auth) sendProbe(ctx context.Context) {
	if _, err := a.svc.DB.ExecContext(ctx, `SELECT pg_notify($1, $2)`, changesChannel, a.probe); err != nil && ctx.Err() == nil {
		a.log.Warn("probe the tenant change listener", "error", err)
	}
}

// flushUsed records when tokens and JWT issuers were last used, in one
// statement each.
func (a *Auth) flushUsed(ctx context.Context) {
	a.mu.Lock()
	ids, issuers := idList(a.used), idList(a.usedIssuers)
	a.used, a.usedIssuers = map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	a.mu.Unlock()
	if len(ids) > 0 {
		const q = `UPDATE control.tokens SET last_used_at = now() WHERE id = ANY($1::uuid[])`
		if _, err := a.svc.DB.ExecContext(ctx, q, pq.Array(ids)); err != nil {
			a.log.Warn("record token use", "error", err)
		}
	}
	if len(issuers) > 0 {
		const q = `UPDATE control.jwt_issuers SET last_used_at = now() WHERE id = ANY($1::uuid[])`
		if _, err := a.svc.DB.ExecContext(ctx, q, pq.Array(issuers)); err != nil {
			a.log.Warn("record JWT issuer use", "error", err)
		}
	}
}

func idList(set map[uuid.UUID]bool) []string {
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id.String())
	}
	return ids
}
