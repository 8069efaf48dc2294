// Package web is Bulkhead's HTTP layer: the Echo server, its routes and
// middleware, the SCIM handlers and the console. It parses requests, calls
// package app, and renders; it holds no SQL.
package web

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/bulkhead-dev/bulkhead/app/activity"
	"github.com/bulkhead-dev/bulkhead/app/credential"
	"github.com/bulkhead-dev/bulkhead/app/directory"
	"github.com/bulkhead-dev/bulkhead/app/events"
	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
	"github.com/bulkhead-dev/bulkhead/app/webhook"
)

// Config holds what the server needs.
type Config struct {
	DB *store.DB
	// Tenants is the process's one tenant.Service (it wakes the spare
	// pool's refill); nil makes one over DB.
	Tenants *tenant.Service
	Log     *slog.Logger
	BaseURL string // public URL, e.g. https://scim.example.com; no trailing slash

	// TenantDomain turns on subdomain tenancy: with scim.example.com, a
	// request to acme.scim.example.com/scim/v2 is for tenant acme. "" is off.
	TenantDomain string
	// TrustedProxies are the addresses of an API gateway whose X-Tenant-ID
	// header is honoured, when signed with GatewaySecret; from anywhere else
	// the header is ignored. Gateway mode needs both.
	TrustedProxies []netip.Prefix
	GatewaySecret  string
	// Console is what the console shows beyond the control plane: counts,
	// usage and health. Nil means insight.Basic.
	Console ConsoleData

	// Meter counts SCIM usage per tenant (nil: not metered); MetricsTenantLabels
	// adds the busiest tenants to /metrics (web/metrics.go).
	Meter               *usage.Meter
	MetricsTenantLabels bool
	// Activity records the tenant activity feed (nil: not recorded); it
	// needs Meter, whose capture of each request it reads.
	Activity *activity.Recorder
	// Webhooks registers and lists webhook endpoints with the server's URL
	// policy; nil: webhook.NewService with the default policy. The
	// deliveries are webhook.Dispatcher's, which serve runs.
	Webhooks *webhook.Service
	// Spares is how many spare tenant schemas to keep ready, so that
	// creating a tenant renames one; 0 means tenant.DefaultSpares, negative
	// turns the pool off.
	Spares int
	// EventsRetention is how long directory events are kept (0:
	// events.DefaultRetention).
	EventsRetention time.Duration
}

// Server serves SCIM, the console and the health endpoints.
type Server struct {
	cfg     Config
	echo    *echo.Echo
	http    *http.Server
	tenants *tenant.Service
	creds   *credential.Service
	scim    *directory.Service
	auth    *credential.Auth
	limiter *tenant.RateLimiter
	obs     *observer

	tenantDomain string // cfg.TenantDomain, lower-case, without dots at the ends
	console      *console
	spares       *tenant.SparePool

	streams   chan struct{} // a slot per open activity stream (MaxActivityStreams)
	closing   chan struct{} // closed by Shutdown, which ends the streams
	closeOnce sync.Once
	rollups   *insight.Rollups // the tenant list's sort keys
	events    *events.Service  // the events relay and API
	purger    *tenant.Purger   // the background purge of soft-deleted users
}

// NewServer returns a server with every route registered.
func NewServer(cfg Config) *Server {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = clientIP(cfg.TrustedProxies)
	tenants := cfg.Tenants
	if tenants == nil {
		tenants = tenant.NewService(cfg.DB)
	}
	creds := credential.NewService(tenants)
	if cfg.Webhooks == nil {
		cfg.Webhooks = webhook.NewService(cfg.DB, webhook.Policy{})
	}
	s := &Server{
		cfg:     cfg,
		echo:    e,
		tenants: tenants,
		creds:   creds,
		scim:    directory.NewService(cfg.DB),
		auth:    credential.NewAuth(creds, cfg.Log),
		limiter: tenant.NewRateLimiter(tenants, cfg.Log),
		obs:     newObserver(cfg),

		tenantDomain: strings.Trim(strings.ToLower(cfg.TenantDomain), "."),
		spares:       tenant.NewSparePool(tenants, cmp.Or(cfg.Spares, tenant.DefaultSpares), cfg.Log),
		streams:      make(chan struct{}, MaxActivityStreams),
		closing:      make(chan struct{}),
		rollups:      insight.NewRollups(tenants, cfg.Log),
		events:       events.NewService(cfg.DB, cfg.EventsRetention, cfg.Log),
		purger:       tenant.NewPurger(tenants, cfg.Log),
	}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      120 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
	}
	e.HTTPErrorHandler = s.handleError
	s.routes()
	return s
}

// Start runs the server's background work until ctx ends: the token cache's
// change listener, the rate limiter's instance heartbeat, the refill of
// spare tenant schemas, the removal of expired console sessions, the
// tenant list's roll-ups (insight.Rollups), the pause of prepared lookups
// while tenants are migrated, the events relay and the purge of users kept
// by soft_delete past their retention (tenant.Purger); the token cache and
// the pause share the process's one LISTEN connection (store.DB.Subscribe).
// The returned function waits for them to finish their last writes.
func (s *Server) Start(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	migrations := func(ctx context.Context) { s.cfg.DB.FollowMigrations(ctx, s.cfg.Log) }
	for _, run := range []func(context.Context){s.auth.Run, s.limiter.Run, s.spares.Run, s.sweepSessions, s.rollups.Run, migrations, s.events.Run, s.purger.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); run(ctx) }()
	}
	return wg.Wait
}

// ServeHTTP serves one request, from the listener or, in tests, without
// one: what every request needs before routing (scimCleanPath,
// securityHeaders), then Echo. These two are not Echo Pre middleware
// because Echo composes Pre middleware anew for every request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	scimCleanPath(r.URL)
	s.securityHeaders(w.Header(), r.URL.Path)
	s.echo.ServeHTTP(w, r)
}

// Serve accepts connections on ln until Shutdown. It returns nil after a
// graceful shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting connections and waits for in-flight requests to
// finish, until ctx ends. Live activity streams, which would never finish,
// end at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.closing) })
	return s.http.Shutdown(ctx)
}
