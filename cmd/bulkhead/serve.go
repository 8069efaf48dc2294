package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/term"

	"github.com/bulkhead-dev/bulkhead/app/activity"
	"github.com/bulkhead-dev/bulkhead/app/insight"
	"github.com/bulkhead-dev/bulkhead/app/staff"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
	metering "github.com/bulkhead-dev/bulkhead/app/usage"
	"github.com/bulkhead-dev/bulkhead/app/webhook"
	"github.com/bulkhead-dev/bulkhead/web"
)

// shutdownTimeout bounds how long in-flight requests may take to finish
// after a stop signal; usageSaveTimeout bounds the last usage flush after
// them, so that a database that refuses it does not hold the exit: what it
// could not save is logged with its counts.
const (
	shutdownTimeout  = 30 * time.Second
	usageSaveTimeout = 5 * time.Second
)

func (c *cli) serve(ctx context.Context, args []string) error {
	fs := c.flags("serve")
	spares := fs.Int("spares", tenant.DefaultSpares, "")
	if v := os.Getenv("BULKHEAD_SPARES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%w: BULKHEAD_SPARES must be a number", errUsage)
		}
		*spares = n
	}
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	var retention time.Duration
	if v := os.Getenv("BULKHEAD_EVENTS_RETENTION"); v != "" {
		d, err := parseDays(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%w: BULKHEAD_EVENTS_RETENTION must be a duration such as 30d or 72h", errUsage)
		}
		retention = d
	}
	tenancy, err := c.tenancyConfig()
	if err != nil {
		return err
	}
	hookPolicy, err := webhookPolicy()
	if err != nil {
		return err
	}
	hookOpts, err := webhookOptions()
	if err != nil {
		return err
	}
	if *spares == 0 {
		*spares = -1 // web.Config: 0 means the default, negative none
	}
	log, logw := newLogger(c.stdout)
	if logw != nil {
		lctx, stopLog := context.WithCancel(context.Background())
		logged := make(chan struct{})
		go func() { defer close(logged); logw.Run(lctx) }()
		defer func() { stopLog(); <-logged }() // writes out the last lines
	}
	c.mayCreate, c.serving = true, true
	db, closeDB, err := c.connect(ctx, func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) })
	if err != nil {
		return err
	}
	defer closeDB()

	password, err := staff.Bootstrap(ctx, db)
	if err != nil {
		return fmt.Errorf("create the first administrator: %w", err)
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	c.Addr = ln.Addr().String() // resolves port 0
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Addr // not the one recorded by an earlier server
	}
	// The CLI prints what the server recorded, from its own environment.
	if err := c.tenants.RecordBaseURL(ctx, c.baseURL()); err != nil {
		log.Warn("the CLI will not know the base URL", "error", err.Error())
	}
	if c.DatabaseURL == "" {
		defer registerServer(c.DataDir)()
	}
	meter := metering.NewMeter(db, metering.Options{Log: log})
	go meter.Run(ctx) // flushes usage every few seconds; Close saves the rest below
	feed := activity.NewRecorder(db, activity.Options{Log: log})
	go feed.Run(ctx) // writes the activity feed every half second; Close saves the rest below
	cfg := tenancy
	cfg.DB, cfg.Log, cfg.BaseURL = db, log, c.baseURL()
	cfg.Meter, cfg.MetricsTenantLabels = meter, os.Getenv("BULKHEAD_METRICS_TENANT_LABELS") == "1"
	cfg.Activity = feed
	cfg.Tenants = c.tenants
	cfg.Console = insight.NewMetered(c.tenants) // the console reads what the meter flushes
	cfg.Spares = *spares
	cfg.EventsRetention = retention
	cfg.Webhooks = webhook.NewService(db, hookPolicy)
	srv := web.NewServer(cfg)
	bgctx, stopBackground := context.WithCancel(context.Background())
	waitBackground := srv.Start(bgctx)
	hookOpts.Log = log
	hooksDone := make(chan struct{})
	go func() { defer close(hooksDone); webhook.NewDispatcher(db, hookPolicy, hookOpts).Run(bgctx) }()
	defer func() { stopBackground(); waitBackground(); <-hooksDone }()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	log.Info("serving", "addr", c.Addr, "base_url", c.baseURL())
	if logw != nil {
		logw.Buffer() // serving: request lines wait in the buffer from now on
	}
	fmt.Fprintf(c.stderr, "\nBulkhead is serving on http://%s\n  console:  %s/admin/\n  SCIM:     %s/tenants/{tenant}/scim/v2\n",
		c.Addr, c.baseURL(), c.baseURL())
	if password != "" {
		fmt.Fprintf(c.stderr, "\nFirst start: sign in to the console as\n  email:    %s\n  password: %s\nThe password is shown only now.\n", staff.BootstrapEmail, password)
	}
	fmt.Fprintln(c.stderr)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(sctx)
	uctx, cancelUsage := context.WithTimeout(context.Background(), usageSaveTimeout)
	defer cancelUsage()
	if err := meter.Close(uctx); err != nil { // after the drain: every request is counted
		s := meter.Stats()
		log.Error("usage", "error", err.Error(), "dropped_requests", s.DroppedRequests, "dropped_failures", s.DroppedFailures)
	}
	if err := feed.Close(uctx); err != nil {
		log.Error("activity", "error", err.Error())
	}
	if shutdownErr != nil {
		return fmt.Errorf("shutdown: %w", shutdownErr)
	}
	log.Info("stopped")
	return nil
}

// newLogger logs text to a terminal and JSON otherwise. JSON lines go
// through the buffer it returns (nil for a terminal), so that a request's
// log line costs no system call of its own; the caller runs it.
func newLogger(w io.Writer) (*slog.Logger, *web.LogWriter) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(w, nil)), nil
	}
	lw := web.NewLogWriter(w)
	return slog.New(slog.NewJSONHandler(lw, nil)), lw
}
