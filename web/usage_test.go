package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bulkhead-dev/bulkhead/app/tenant"
	"github.com/bulkhead-dev/bulkhead/app/usage"
	"github.com/bulkhead-dev/bulkhead/web"
)

// metered is a server with usage metering on, over the shared database.
type metered struct {
	url   string
	meter *usage.Meter
}

var meteredTenants atomic.Int64

// newMetered starts a metered server. Its Meter flushes only when the test
// says so, unless the test runs it.
func newMetered(t testing.TB, change ...func(*web.Config)) *metered {
	t.Helper()
	setup(t)
	m := &metered{meter: usage.NewMeter(env.db, usage.Options{FlushEvery: time.Hour})}
	cfg := web.Config{DB: env.db, Log: slog.New(slog.DiscardHandler), BaseURL: baseURL, Meter: m.meter}
	for _, c := range change {
		c(&cfg)
	}
	srv := httptest.NewServer(web.NewServer(cfg))
	t.Cleanup(srv.Close)
	m.url = srv.URL
	return m
}

// tenant creates a tenant and returns its SCIM base path and token.
func meteredTenant(t testing.TB, change ...func(*tenant.NewTenant)) (id, prefix, token string) {
	t.Helper()
	nt := tenant.NewTenant{ID: fmt.Sprintf("m%d", meteredTenants.Add(1)), Plan: tenant.PlanEnterprise}
	for _, c := range change {
		c(&nt)
	}
	tn, tok, err := env.tenants.CreateTenant(context.Background(), nt, "test")
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID, "/tenants/" + tn.ID + "/scim/v2", tok.Secret
}

// send makes one request to the metered server; headers are name, value
// pairs. It returns the response with its body read.
func (m *metered) send(t testing.TB, token, method, path string, body any, headers ...string) *response {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, m.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := &response{Status: res.StatusCode, Header: res.Header}
	out.Raw, _ = io.ReadAll(res.Body)
	_ = json.Unmarshal(out.Raw, &out.Body)
	return out
}

// rollups flushes the meter and returns the tenant's requests by
// "resource operation status refusal".
func (m *metered) rollups(t testing.TB, tenantID string) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	if err := m.meter.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rs, err := usage.FindRollups(ctx, env.db, usage.RollupFilter{TenantID: tenantID, Since: time.Now().Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range rs {
		k := fmt.Sprintf("%s %s %d", r.Resource, r.Operation, r.Status)
		if r.Refusal != "" {
			k += " " + r.Refusal
		}
		got[k] += r.Requests
		var inBuckets int64
		for _, n := range r.Latency {
			inBuckets += n
		}
		if inBuckets != r.Requests {
			t.Errorf("%s: %d requests, %d in latency buckets", k, r.Requests, inBuckets)
		}
	}
	return got
}

// TestMeteringCounts sends a known mix of SCIM requests and finds exactly
// that mix, by resource, operation, status and refusal, in the roll-ups.
func TestMeteringCounts(t *testing.T) {
	t.Parallel()
	m := newMetered(t)
	id, p, tok := meteredTenant(t, func(nt *tenant.NewTenant) { nt.MaxUsers = ptr(3) })
	okta := []string{"User-Agent", "Okta SCIM Client 1.0.0"}

	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, m.send(t, tok, "POST", p+"/Users", user(fmt.Sprintf("u%d", i)), okta...).must(t, 201).str("id"))
	}
	m.send(t, tok, "POST", p+"/Users", user("u0"), okta...).must(t, 403) // quota of 3 reached before uniqueness
	m.send(t, tok, "GET", p+"/Users/"+ids[0], nil).must(t, 200)
	m.send(t, tok, "GET", p+"/Users/"+ids[1], nil).must(t, 200)
	m.send(t, tok, "GET", p+"/Users/2819c223-7f76-453a-919d-413861904646", nil).must(t, 404)
	m.send(t, tok, "GET", p+"/Users?filter="+q(`userName eq "u1"`), nil).must(t, 200)
	m.send(t, tok, "GET", p+"/Users?filter="+q(`userName eq`), nil).must(t, 400)
	m.send(t, tok, "POST", p+"/Users/.search", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}}).must(t, 200)
	m.send(t, tok, "POST", p+"/.search", map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:SearchRequest"}}).must(t, 200)
	m.send(t, tok, "PUT", p+"/Users/"+ids[1], user("u1-renamed"), okta...).must(t, 200)
	m.send(t, tok, "DELETE", p+"/Users/"+ids[2], nil, okta...).must(t, 204)
	m.send(t, tok, "POST", p+"/Groups", map[string]any{"schemas": []string{groupSchema}, "displayName": "g"}, okta...).must(t, 201)
	m.send(t, tok, "POST", p+"/Groups", "{not json").must(t, 400)
	m.send(t, tok, "GET", p+"/ServiceProviderConfig", nil).must(t, 200)
	m.send(t, tok, "GET", p+"/Schemas", nil).must(t, 200)
	m.send(t, tok, "GET", "/scim/v2/Groups", nil).must(t, 200) // the token alone picks the tenant
	m.send(t, "bh_not-a-token", "GET", p+"/Users", nil).must(t, 401)
	m.send(t, tok, "GET", p+"/Nothing", nil).must(t, 404)
	m.send(t, tok, "PATCH", p+"/Users/"+ids[0], map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "path": "displayName", "value": "Zero"}},
	}, okta...).must(t, 200)
	m.send(t, tok, "POST", p+"/Bulk", map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:BulkRequest"},
		"Operations": []any{map[string]any{"method": "DELETE", "path": "/Users/" + ids[0]}},
	}, okta...).must(t, 200)

	want := map[string]int64{
		"Users create 201":        3,
		"Users create 403 quota":  1,
		"Users get 200":           2,
		"Users get 404":           1,
		"Users list 200":          1,
		"Users list 400":          1,
		"Users search 200":        1,
		"all search 200":          1,
		"Users replace 200":       1,
		"Users delete 204":        1,
		"Groups create 201":       1,
		"Groups create 400":       1,
		"discovery discovery 200": 2,
		"Groups list 200":         1,
		"other other 404":         1,
		"Users patch 200":         1,
		"Bulk bulk 200":           1,
	}
	got := m.rollups(t, id)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("roll-ups:\n got %v\nwant %v", got, want)
	}
	// Nothing is counted twice by a second flush.
	if again := m.rollups(t, id); fmt.Sprint(again) != fmt.Sprint(want) {
		t.Fatalf("after a second flush:\n got %v\nwant %v", again, want)
	}

	tot, err := usage.SummarizeTenant(context.Background(), env.db, id, time.Now().Add(-time.Hour), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if tot.Requests != 21 || tot.BytesIn == 0 || tot.BytesOut == 0 || tot.Refusals["quota"] != 1 || tot.DBTime <= 0 {
		t.Errorf("totals: %+v", tot)
	}
	lw, err := usage.FindLastWrite(context.Background(), env.db, id)
	if err != nil || lw.IdP != usage.IdPOkta || time.Since(lw.At) > time.Minute {
		t.Errorf("last write %+v, %v; want just now by okta", lw, err)
	}
}

// TestMeteringShutdownLosesNothing: clients hammer the server while it
// shuts down gracefully; afterwards the roll-ups hold exactly as many
// requests as the clients got responses.
func TestMeteringShutdownLosesNothing(t *testing.T) {
	t.Parallel()
	setup(t)
	meter := usage.NewMeter(env.db, usage.Options{FlushEvery: 50 * time.Millisecond})
	srv := web.NewServer(web.Config{DB: env.db, Log: slog.New(slog.DiscardHandler), BaseURL: baseURL, Meter: meter})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	runCtx, stopRun := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { meter.Run(runCtx); close(ran) }()

	type tn struct {
		id, prefix, token string
		received          atomic.Int64
	}
	tenants := make([]*tn, 3)
	for i := range tenants {
		x := &tn{}
		x.id, x.prefix, x.token = meteredTenant(t)
		tenants[i] = x
	}
	var wg sync.WaitGroup
	var stop atomic.Bool
	for g := 0; g < 12; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := tenants[g%len(tenants)]
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; !stop.Load(); i++ {
				var req *http.Request
				if i%3 == 0 {
					b, _ := json.Marshal(user(fmt.Sprintf("g%d-%d", g, i)))
					req, _ = http.NewRequest("POST", "http://"+ln.Addr().String()+x.prefix+"/Users", bytes.NewReader(b))
				} else {
					req, _ = http.NewRequest("GET", "http://"+ln.Addr().String()+x.prefix+"/Users?count=1", nil)
				}
				req.Header.Set("Authorization", "Bearer "+x.token)
				res, err := client.Do(req)
				if err != nil {
					return // the server has stopped accepting
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				x.received.Add(1)
			}
		}()
	}
	// Shut down mid-traffic once enough has been served for several
	// flushes to have happened, however busy the machine is.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var n int64
		for _, x := range tenants {
			n += x.received.Load()
		}
		if n >= 200 {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	stopRun()
	<-ran
	if err := meter.Close(ctx); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()

	var total int64
	for _, x := range tenants {
		tot, err := usage.SummarizeTenant(ctx, env.db, x.id, time.Now().Add(-2*time.Hour), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if tot.Requests != x.received.Load() {
			t.Errorf("tenant %s: %d requests in the roll-ups, %d responses received", x.id, tot.Requests, x.received.Load())
		}
		total += tot.Requests
	}
	if total < 200 {
		t.Fatalf("only %d requests were made", total)
	}
	t.Logf("%d requests across the shutdown, all counted", total)
}

// TestInspectorRedacts: failed requests carrying names, emails and phone
// numbers reach the inspector with their request ids, scimType and detail,
// and with none of the personal data: only keys and the kind and length of
// each value.
func TestInspectorRedacts(t *testing.T) {
	t.Parallel()
	m := newMetered(t)
	id, p, tok := meteredTenant(t)
	person := user("barbara.jensen@example.com",
		"name", map[string]any{"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen III"},
		"displayName", "Babs Jensen",
		"emails", []any{map[string]any{"value": "bjensen@example.com", "type": "work", "primary": true}},
		"phoneNumbers", []any{map[string]any{"value": "+1 555 555 8377", "type": "work"}},
		"addresses", []any{map[string]any{"streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "type": "work"}},
	)
	entra := []string{"User-Agent", "Microsoft Azure AD SCIM provisioning 1.0"}
	m.send(t, tok, "POST", p+"/Users", person, entra...).must(t, 201)
	dup := m.send(t, tok, "POST", p+"/Users", person, entra...).must(t, 409)
	if !strings.Contains(dup.str("detail"), "barbara.jensen@example.com") {
		t.Fatalf("the test expects the conflict detail to quote the userName: %s", dup.Raw)
	}
	bad := m.send(t, tok, "GET", p+"/Users?filter="+q(`userName eq "barbara.jensen@example.com" and`), nil, entra...).must(t, 400)

	fs, err := failures(t, m, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 {
		t.Fatalf("%d failures in the inspector, want 2", len(fs))
	}
	all, _ := json.Marshal(fs)
	for _, pii := range []string{"barbara", "Barbara", "Jensen", "jensen", "Babs", "example.com", "555 8377", "Universal", "Hollywood"} {
		if strings.Contains(string(all), pii) {
			t.Errorf("the inspector shows %q:\n%s", pii, all)
		}
	}
	conflict, filter := fs[1], fs[0] // newest first
	if conflict.Status != 409 || conflict.ScimType != "uniqueness" || conflict.RequestID != dup.Header.Get("X-Request-Id") || conflict.IdP != usage.IdPEntra {
		t.Errorf("conflict as inspected: %+v", conflict)
	}
	for _, shape := range []string{`"userName":"…"(26)`, `"givenName":"…"(7)`, `"type":"…"(4)`, `"primary":<bool>`} {
		if !strings.Contains(conflict.Body, shape) {
			t.Errorf("body lacks %s: %s", shape, conflict.Body)
		}
	}
	if conflict.Detail != `userName "…"(26) is already taken` {
		t.Errorf("detail %q does not show the userName's length", conflict.Detail)
	}
	if filter.ScimType != "invalidFilter" || filter.RequestID != bad.Header.Get("X-Request-Id") || !strings.Contains(filter.Path, `userName eq "…"(26) and`) {
		t.Errorf("bad filter as inspected: %+v", filter)
	}
}

func failures(t testing.TB, m *metered, tenantID string) ([]usage.Failure, error) {
	t.Helper()
	if err := m.meter.Flush(context.Background()); err != nil {
		return nil, err
	}
	return usage.FindFailures(context.Background(), env.db, tenantID, 1000)
}

// TestInspectorKeepsLatest200: the inspector keeps each tenant's newest 200
// failures, within one flush and across flushes.
func TestInspectorKeepsLatest200(t *testing.T) {
	t.Parallel()
	m := newMetered(t)
	id, p, tok := meteredTenant(t)
	var reqIDs []string // by request: the inspector shows ids, not the paths' values
	miss := func(i int) {
		res := m.send(t, tok, "GET", fmt.Sprintf("%s/Users/00000000-0000-0000-0000-%012d", p, i), nil).must(t, 404)
		reqIDs = append(reqIDs, res.Header.Get("X-Request-Id"))
	}
	for i := 0; i < 230; i++ { // more than fit in one flush
		miss(i)
	}
	fs, err := failures(t, m, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != usage.MaxFailures || fs[0].RequestID != reqIDs[229] || fs[199].RequestID != reqIDs[30] {
		t.Fatalf("%d failures kept, newest %s, oldest %s", len(fs), fs[0].RequestID, fs[len(fs)-1].RequestID)
	}
	for i := 230; i < 250; i++ {
		miss(i)
	}
	if fs, err = failures(t, m, id); err != nil || len(fs) != usage.MaxFailures || fs[199].RequestID != reqIDs[50] {
		t.Fatalf("after a second flush: %d kept, err %v", len(fs), err)
	}
}

// TestMetricsByRoute: /metrics counts requests by route pattern and
// status, never by raw path or tenant; the busiest tenants appear only when
// asked for.
func TestMetricsByRoute(t *testing.T) {
	t.Parallel()
	m := newMetered(t)
	id, p, tok := meteredTenant(t)
	for i := 0; i < 3; i++ {
		m.send(t, tok, "GET", fmt.Sprintf("%s/Users/00000000-0000-0000-0000-%012d", p, i), nil).must(t, 404)
	}
	m.send(t, "bh_wrong", "GET", p+"/Users", nil).must(t, 401)
	body := string(m.send(t, "", "GET", "/metrics", nil).must(t, 200).Raw)
	for _, want := range []string{
		`bulkhead_http_requests_total{method="GET",route="/tenants/:tenant/scim/v2/Users/:id",status="404"} 3`,
		`bulkhead_http_requests_total{method="GET",route="/tenants/:tenant/scim/v2/Users",status="401"} 1`,
		`bulkhead_scim_refusals_total{reason="auth"} 1`,
		`bulkhead_http_request_duration_seconds_bucket{method="GET",route="/tenants/:tenant/scim/v2/Users/:id",le="+Inf"} 3`,
		`go_sql_open_connections{db_name="bulkhead"}`,
		`bulkhead_usage_flush_lag_seconds`,
		`bulkhead_db_lane_fallbacks_total`,
		`bulkhead_db_lane_connections_returned_total`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "tenant=") || strings.Contains(body, id) || strings.Contains(body, "00000000-0000") {
		t.Errorf("/metrics names a tenant or a raw path:\n%s", body)
	}
	// The GETs above ran in their tenant's lane (lanes are off behind PgBouncer).
	if os.Getenv("BULKHEAD_TEST_PGBOUNCER") == "" {
		if !regexp.MustCompile(`(?m)^bulkhead_db_lane_transactions_total [1-9]`).MatchString(body) {
			t.Errorf("/metrics counts no lane transactions after three GETs")
		}
		if !regexp.MustCompile(`(?m)^bulkhead_db_lane_connections_idle [1-9]`).MatchString(body) {
			t.Errorf("/metrics shows no idle lane connection after three GETs")
		}
	}

	labelled := newMetered(t, func(c *web.Config) { c.MetricsTenantLabels = true })
	labelled.send(t, tok, "GET", p+"/Users", nil).must(t, 200)
	if err := labelled.meter.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	body = string(labelled.send(t, "", "GET", "/metrics", nil).must(t, 200).Raw)
	if !strings.Contains(body, `bulkhead_tenant_requests_last_hour{tenant="`+id+`"} 1`) {
		t.Errorf("with tenant labels on, /metrics lacks the tenant:\n%s", grep(body, "bulkhead_tenant"))
	}
}

// TestMetricsLabelsAreBounded: thousands of made-up request methods add no
// series to /metrics: they are counted together under method="other", and
// every method label is one of HTTP's own.
func TestMetricsLabelsAreBounded(t *testing.T) {
	t.Parallel()
	m := newMetered(t)
	before := len(m.send(t, "", "GET", "/metrics", nil).must(t, 200).Raw)
	const n = 3000
	for i := 0; i < n; i++ {
		req, err := http.NewRequest(fmt.Sprintf("MADEUP%d", i), m.url+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	body := string(m.send(t, "", "GET", "/metrics", nil).must(t, 200).Raw)
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^bulkhead_http_requests_total\{method="other",route="/healthz",status="\d+"\} %d$`, n)).MatchString(body) {
		t.Errorf("/metrics does not count the %d made-up methods as other:\n%s", n, grep(body, "bulkhead_http_requests_total"))
	}
	for _, l := range regexp.MustCompile(`method="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		switch l[1] {
		case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "other":
		default:
			t.Fatalf("/metrics has a series for method %q", l[1])
		}
	}
	if grew := len(body) - before; grew > 20_000 {
		t.Errorf("/metrics grew by %d bytes after %d made-up methods", grew, n)
	}
	t.Logf("/metrics: %d bytes before, %d after %d made-up methods", before, len(body), n)
}

// TestMeteringSurvivesHostileBytes: requests carrying bytes PostgreSQL
// refuses (invalid UTF-8, NUL) or a huge request id fail, and metering goes
// on. Those refused at the text boundary, before authentication, count for
// no tenant; those that reach the tenant (a request id the server
// replaces, escapes that decode to NUL only when decoded twice) are written
// by the next flush, redacted and cut, with every other tenant's counts,
// and nothing is dropped.
func TestMeteringSurvivesHostileBytes(t *testing.T) {
	t.Parallel()
	m := newMetered(t)
	id, p, tok := meteredTenant(t)
	other, op, otok := meteredTenant(t)
	missing := p + "/Users/00000000-0000-0000-0000-000000000000"
	type request struct {
		name, path string
		headers    []string
	}
	refused := []request{
		{"invalid UTF-8 in the path", p + "/Users/%ff", nil},
		{"NUL in the path", p + "/Users/%00", nil},
		{"NUL in a filter", p + "/Users?filter=" + q(`userName eq "a`+"\x00"+`"`), nil},
		{"invalid UTF-8 in a filter", p + "/Users?filter=userName%20eq%20%22%FF%FE%22", nil},
	}
	reaching := []request{
		{"an escaped NUL in the path", p + "/Users/%2500", nil},
		{"an escaped NUL in a filter", p + "/Users?filter=" + q(`userName eq "%00`), nil},
		{"invalid UTF-8 in the request id", missing, []string{"X-Request-Id", "\xff\xfe"}},
		{"a huge request id", missing, []string{"X-Request-Id", strings.Repeat("r", 200_000)}},
	}
	for _, tt := range append(refused, reaching...) {
		if r := m.send(t, tok, "GET", tt.path, nil, tt.headers...); r.Status < 400 || r.Status >= 500 {
			t.Errorf("%s: %d, want a 4xx", tt.name, r.Status)
		}
	}
	m.send(t, tok, "GET", p+"/Users", nil).must(t, 200)
	m.send(t, otok, "GET", op+"/Users", nil).must(t, 200)

	for tn, want := range map[string]int64{id: int64(len(reaching)) + 1, other: 1} {
		var n int64
		for _, c := range m.rollups(t, tn) { // flushes, failing the test if the flush fails
			n += c
		}
		if n != want {
			t.Errorf("tenant %s: %d requests in the roll-ups, want %d", tn, n, want)
		}
	}
	fs, err := failures(t, m, id)
	if err != nil || len(fs) != len(reaching) {
		t.Fatalf("%d failures in the inspector, %v; want %d", len(fs), err, len(reaching))
	}
	for _, f := range fs {
		j, _ := json.Marshal(f)
		if !utf8.Valid(j) || strings.Contains(string(j), `\u0000`) || len(f.RequestID) > 128 {
			t.Errorf("inspector row %s", j[:min(len(j), 300)])
		}
	}
	if s := m.meter.Stats(); s.FlushErrors != 0 || s.DroppedRequests != 0 || s.DroppedFailures != 0 {
		t.Errorf("meter after hostile requests: %+v", s)
	}
}

func grep(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRequestIDInHeaderAndLogs: every response carries X-Request-Id, and
// the request's log line carries the same id and the tenant id.
func TestRequestIDInHeaderAndLogs(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	m := newMetered(t, func(c *web.Config) { c.Log = slog.New(slog.NewJSONHandler(&logs, nil)) })
	id, p, tok := meteredTenant(t)
	for _, tt := range []struct {
		name, path string
		status     int
	}{
		{"OK", p + "/Users", 200},
		{"ErrNotFound", p + "/Users/2819c223-7f76-453a-919d-413861904646", 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := m.send(t, tok, "GET", tt.path, nil).must(t, tt.status)
			rid := r.Header.Get("X-Request-Id")
			if rid == "" {
				t.Fatal("no X-Request-Id header")
			}
			var line map[string]any
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, rid) {
					_ = json.Unmarshal([]byte(l), &line)
				}
			}
			if line["request_id"] != rid || line["tenant_id"] != id {
				t.Fatalf("log line of request %s: %v", rid, line)
			}
		})
	}
}
