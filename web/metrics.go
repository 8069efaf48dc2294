package web

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bulkhead-dev/bulkhead/app/activity"
	"github.com/bulkhead-dev/bulkhead/app/usage"
)

// topTenants is how many tenants get a labelled series when
// Config.MetricsTenantLabels is on.
const topTenants = 20

// observer holds what observe and /metrics share: the Meter and the
// Prometheus registry of this server. No metric has a tenant label, so that
// 10,000 tenants do not make 10,000 series; tenantCollector adds a few, for
// the busiest tenants, only when asked to.
type observer struct {
	meter    *usage.Meter
	activity *activity.Recorder
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	refusals *prometheus.CounterVec
	captures sync.Pool
}

func newObserver(cfg Config) *observer {
	o := &observer{
		meter:    cfg.Meter,
		activity: cfg.Activity,
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulkhead_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bulkhead_http_request_duration_seconds",
			Help:    "Time from the request's arrival to its response, by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulkhead_scim_refusals_total",
			Help: "SCIM requests refused, by reason: auth, permission, quota, suspended, rate_limit.",
		}, []string{"reason"}),
		captures: sync.Pool{New: newCapture},
	}
	o.registry.MustRegister(o.requests, o.latency, o.refusals,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		cfg.DB.StatsCollector("bulkhead"),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "bulkhead_db_lane_transactions_total",
			Help: "Tenant transactions that ran on their tenant's lane (app/store/lanes.go).",
		}, func() float64 { return float64(cfg.DB.LaneStats().Served) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "bulkhead_db_lane_fallbacks_total",
			Help: "Tenant transactions that ran on a pooled connection because their lane was busy (for the lane wait, with their own tenant, or with enough waiters) or without a connection on a full pool.",
		}, func() float64 { return float64(cfg.DB.LaneStats().Fallbacks) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "bulkhead_db_lane_waits_total",
			Help: "Tenant transactions that waited for their lane while another tenant's transaction held it.",
		}, func() float64 { return float64(cfg.DB.LaneStats().Waited) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "bulkhead_db_lane_connections_returned_total",
			Help: "Idle lane connections given back to the pool because callers waited for one.",
		}, func() float64 { return float64(cfg.DB.LaneStats().Returned) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "bulkhead_db_lane_connections_idle",
			Help: "Connections tenant lanes keep between transactions; go_sql_in_use_connections counts them too.",
		}, func() float64 { return float64(cfg.DB.LaneStats().Idle) }))
	if m := cfg.Meter; m != nil {
		o.registry.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "bulkhead_usage_flush_lag_seconds",
				Help: "Time since usage counts were last written to the database.",
			}, func() float64 { return time.Since(m.Stats().LastFlush).Seconds() }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "bulkhead_usage_pending_requests",
				Help: "Requests counted in memory and not yet written to the database.",
			}, func() float64 { return float64(m.Stats().Pending) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "bulkhead_usage_flush_errors_total",
				Help: "Usage flushes that failed and were retried.",
			}, func() float64 { return float64(m.Stats().FlushErrors) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "bulkhead_usage_dropped_requests_total",
				Help: "Requests whose usage counts were given up: refused by the database, past the bound of what waits in memory, or unsaved at shutdown.",
			}, func() float64 { return float64(m.Stats().DroppedRequests) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "bulkhead_usage_dropped_failures_total",
				Help: "Failed requests the request inspector will not show: refused by the database, past the bound of what waits in memory, or unsaved at shutdown.",
			}, func() float64 { return float64(m.Stats().DroppedFailures) }),
		)
	}
	if cfg.MetricsTenantLabels {
		o.registry.MustRegister(&tenantCollector{cfg: cfg})
	}
	return o
}

// statusLabels holds the status codes as strings, so that counting a
// request does not format one.
var statusLabels = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

// otherLabel stands for any label value outside its closed set.
const otherLabel = "other"

// statusLabel returns code as a label: one of the codes HTTP defines room
// for, or "other".
func statusLabel(code int) string {
	if code >= 100 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return otherLabel
}

// methodLabel returns method as a label: one of HTTP's methods, or "other"
// for any name a client made up, which would otherwise make a series each.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return otherLabel
}

// observeHTTP counts one request. Every label comes from a closed set, so
// that no client can add series: route is the Echo route pattern, never
// the raw path (Echo gives a registered pattern even to a 404 or 405, or
// ""), the method and status are mapped by methodLabel and statusLabel.
func (o *observer) observeHTTP(route, method string, status int, took time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	method = methodLabel(method)
	o.requests.WithLabelValues(route, method, statusLabel(status)).Inc()
	o.latency.WithLabelValues(route, method).Observe(took.Seconds())
}

// metrics serves /metrics in the Prometheus text format.
func (s *Server) metrics(c echo.Context) error {
	if s.obs == nil {
		return c.NoContent(http.StatusNotFound)
	}
	promhttp.HandlerFor(s.obs.registry, promhttp.HandlerOpts{}).ServeHTTP(c.Response(), c.Request())
	return nil
}

// tenantCollector reports the busiest tenants of the last hour, across all
// instances, from the usage roll-ups: at most topTenants series per metric.
// A scrape reads the database at most every 15 seconds.
type tenantCollector struct {
	cfg Config

	mu     sync.Mutex
	at     time.Time
	totals []*usage.Totals
}

var (
	tenantRequestsDesc = prometheus.NewDesc("bulkhead_tenant_requests_last_hour",
		"SCIM requests of the busiest tenants in the current and previous clock hour, all instances.", []string{"tenant"}, nil)
	tenantErrorsDesc = prometheus.NewDesc("bulkhead_tenant_errors_last_hour",
		"SCIM errors of the busiest tenants in the current and previous clock hour, all instances.", []string{"tenant"}, nil)
)

// Describe sends the descriptions of the per-tenant metrics.
func (tc *tenantCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tenantRequestsDesc
	ch <- tenantErrorsDesc
}

// Collect sends the busiest tenants' metrics, refreshed from the roll-ups
// when the last read is older than 15 seconds.
func (tc *tenantCollector) Collect(ch chan<- prometheus.Metric) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if time.Since(tc.at) > 15*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		since := time.Now().Add(-time.Hour).Truncate(time.Hour)
		ts, err := usage.Summarize(ctx, tc.cfg.DB, usage.RollupFilter{Since: since})
		cancel()
		if err != nil {
			tc.cfg.Log.Warn("metrics: busiest tenants", "error", err.Error())
		} else {
			slices.SortFunc(ts, func(a, b *usage.Totals) int { return int(b.Requests - a.Requests) })
			tc.totals, tc.at = ts[:min(len(ts), topTenants)], time.Now()
		}
	}
	for _, t := range tc.totals {
		ch <- prometheus.MustNewConstMetric(tenantRequestsDesc, prometheus.GaugeValue, float64(t.Requests), t.TenantID)
		ch <- prometheus.MustNewConstMetric(tenantErrorsDesc, prometheus.GaugeValue, float64(t.Errors), t.TenantID)
	}
}
