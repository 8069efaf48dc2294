// Command bulkhead is Bulkhead's one binary: the server (serve), the
// migration runner (migrate) and the operator's CLI (tenant, staff).
//
// Exit codes: 0 success, 1 failure, 2 bad usage. --help or -h anywhere
// prints the help of the command given before it and exits 0.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/bulkhead-dev/bulkhead/app"
	"github.com/bulkhead-dev/bulkhead/app/store"
	"github.com/bulkhead-dev/bulkhead/app/store/localpg"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `Bulkhead: a schema-per-tenant SCIM 2.0 backend.

Usage:
  bulkhead serve [--addr ADDR] [--spares N]    serve SCIM and the console
  bulkhead migrate [--status] [--workers N]    migrate the control plane and every tenant
  bulkhead tenant create ID [--name NAME] [--plan enterprise|startup|trial]
                            [--max-users N] [--max-groups N] [--strict]
                            [--profile entra|okta|rfc|generic]
  bulkhead tenant list
  bulkhead tenant show ID                      tokens with their expiry, SCIM flags
  bulkhead tenant set ID FLAG=VALUE...         SCIM profile and flags, e.g.
                                               profile=rfc require_if_match=true
  bulkhead tenant purge-deleted ID [--older-than 30d]
                                               delete soft-deleted users for good
  bulkhead tenant suspend ID                   SCIM refuses it; data kept
  bulkhead tenant resume ID
  bulkhead tenant delete ID --yes
  bulkhead tenant token create ID [--name NAME] [--expires-in 90d|12h]
  bulkhead tenant token revoke ID TOKEN_ID
  bulkhead tenant jwt add ID --issuer ISS --alg HS256|RS256|ES256
                            (--key-file FILE | --secret-stdin) [--audience AUD]
  bulkhead tenant jwt list ID
  bulkhead tenant jwt remove ID ISSUER_ID
  bulkhead tenant schema add ID FILE|-        a SCIM schema extension (JSON)
  bulkhead tenant schema list ID
  bulkhead tenant schema remove ID URN        stop serving it; values kept
  bulkhead tenant schema purge ID URN --yes   delete its values
  bulkhead tenant export ID > ID.json          users, groups, memberships, permissions
  bulkhead tenant import [FILE|-] [--id NEW_ID]   from a file or stdin
  bulkhead staff create --email EMAIL --role admin|support   (password on stdin)
  bulkhead staff list
  bulkhead staff disable --email EMAIL        signs it out, revokes its API keys
  bulkhead staff enable --email EMAIL
  bulkhead staff role --email EMAIL admin|support
  bulkhead staff reset-password --email EMAIL (password on stdin; also unlocks)
  bulkhead staff unlock --email EMAIL         clear its failed sign-ins
  bulkhead staff apikey create --email EMAIL [--name NAME]   (admin JSON API key)
  bulkhead audit [--tenant ID] [--since 24h]   the audit trail, newest first
  bulkhead events key create [--tenants ID,ID] [--name NAME]   a key for GET /events;
                            every tenant without --tenants; shown once
  bulkhead events key list
  bulkhead events key revoke KEY_ID
  bulkhead webhook add --url URL [--tenant ID]  signed event deliveries; all
                            tenants without --tenant; prints the secret once
  bulkhead webhook list
  bulkhead webhook remove ID

Every command takes:
  --database-url URL   PostgreSQL to use (env DATABASE_URL)
  --data DIR           local data directory (env BULKHEAD_DATA); without it
                       and DATABASE_URL, the nearest .bulkhead at or above the
                       working directory, else the running server's; only
                       serve and migrate create a new one
  --base-url URL       public URL for SCIM locations (env BULKHEAD_BASE_URL);
                       the CLI defaults to the one the server recorded
  --json               print one JSON object instead of text, errors too
  -h, --help           this command's help

serve also takes:
  --tenant-domain D    serve tenant acme at acme.D (env BULKHEAD_TENANT_DOMAIN)
  --trusted-proxies L  comma-separated CIDRs of an API gateway allowed to name
                       the tenant in X-Tenant-ID (env BULKHEAD_TRUSTED_PROXIES)
  --gateway-secret S   HMAC secret the gateway signs with, 32+ bytes
                       (env BULKHEAD_GATEWAY_SECRET; prefer the environment)
  env BULKHEAD_EVENTS_RETENTION  how long directory events are kept, e.g.
                       30d or 72h (default 30d)
  env BULKHEAD_WEBHOOK_ALLOW      comma-separated CIDRs webhooks may reach
                       although private or loopback, over plain http too
                       (webhook add reads it as well)
  env BULKHEAD_WEBHOOK_RETRY_FOR  how long a failing event is retried before
                       its endpoint is paused (default 24h)
`

// errUsage marks errors in how the command was called: exit code 2.
var errUsage = errors.New("usage")

// commonHelp is the part of usage every command's help ends with, and
// serveHelp the part serve's adds.
var (
	commonHelp = usage[strings.Index(usage, "\nEvery command takes:"):strings.Index(usage, "\nserve also takes:")]
	serveHelp  = usage[strings.Index(usage, "\nserve also takes:"):]
)

// cli is one invocation: its configuration and standard streams.
type cli struct {
	DatabaseURL string
	DataDir     string
	BaseURL     string
	Addr        string
	JSON        bool

	TenantDomain   string // serve: subdomain tenancy
	TrustedProxies string // serve: comma-separated CIDRs of the gateway
	GatewaySecret  string // serve: the gateway's HMAC secret

	printed         bool            // print wrote the command's one JSON object
	mayCreate       bool            // serve and migrate may create a local cluster
	serving         bool            // serve: never adopt another server's cluster
	recordedBaseURL string          // the base URL the server recorded (connect)
	tenants         *tenant.Service // the process's one, made by connect
	stdin           io.Reader
	stdout, stderr  io.Writer
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr}
	if path, ok := helpPath(args); ok {
		fmt.Fprint(stdout, help(path))
		return 0
	}
	err := c.dispatch(ctx, args)
	if err == nil {
		return 0
	}
	msg, code := app.ErrorMessageOrText(err), 1
	if errors.Is(err, errUsage) {
		msg, code = err.Error(), 2
	}
	// c.JSON is set only once the command's flags parsed; a usage error
	// may come before.
	if (c.JSON || wantsJSON(args)) && !c.printed {
		out := map[string]any{"error": msg}
		if fields := app.ErrorFields(err); fields != nil {
			out["fields"] = fields // as the admin API answers
		}
		b, _ := json.Marshal(out)
		fmt.Fprintln(stdout, string(b))
	}
	fmt.Fprintf(stderr, "bulkhead: %s\n", msg)
	if code == 2 {
		fmt.Fprintf(stderr, "run '%s'\n", strings.Join(append([]string{"bulkhead"}, commandPath(args)...), " ")+" --help")
	}
	return code
}

func (c *cli) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return c.serve(ctx, rest)
	case "migrate":
		return c.migrate(ctx, rest)
	case "tenant":
		return c.tenant(ctx, rest)
	case "staff":
		return c.staff(ctx, rest)
	case "audit":
		return c.audit(ctx, rest)
	case "events":
		return c.eventsCmd(ctx, rest)
	case "webhook":
		return c.webhook(ctx, rest)
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// flags returns a flag set with the flags every command takes, defaulted
// from the environment.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.DatabaseURL, "database-url", os.Getenv("DATABASE_URL"), "")
	fs.StringVar(&c.DataDir, "data", os.Getenv("BULKHEAD_DATA"), "")
	fs.StringVar(&c.BaseURL, "base-url", os.Getenv("BULKHEAD_BASE_URL"), "")
	fs.StringVar(&c.Addr, "addr", envOr("BULKHEAD_ADDR", "127.0.0.1:8080"), "")
	fs.BoolVar(&c.JSON, "json", false, "")
	fs.StringVar(&c.TenantDomain, "tenant-domain", os.Getenv("BULKHEAD_TENANT_DOMAIN"), "")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", os.Getenv("BULKHEAD_TRUSTED_PROXIES"), "")
	fs.StringVar(&c.GatewaySecret, "gateway-secret", os.Getenv("BULKHEAD_GATEWAY_SECRET"), "")
	return fs
}

// parse parses args with fs, allowing flags after positional arguments, and
// checks the number of positional arguments, unless want is -1.
// given reports whether the command line set the flag name, so that an
// empty value given on purpose (--tenants "$EMPTY") is told from none.
func given(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func parse(fs *flag.FlagSet, args []string, want int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if want >= 0 && len(pos) != want {
		return nil, fmt.Errorf("%w: %s takes %d argument(s), got %d", errUsage, fs.Name(), want, len(pos))
	}
	return pos, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// baseURL returns the public URL of the server: --base-url
// (BULKHEAD_BASE_URL), else the one the server recorded when it started,
// else http:// and --addr.
func (c *cli) baseURL() string {
	if c.BaseURL != "" {
		return strings.TrimRight(c.BaseURL, "/")
	}
	if c.recordedBaseURL != "" {
		return c.recordedBaseURL
	}
	return "http://" + c.Addr
}

// connect opens the database: DATABASE_URL when given, otherwise the local
// cluster in dataDir, attached to when it runs and started when it does
// not. The control plane is migrated before connect returns, and the base
// URL the server recorded is read. logf receives progress lines of the
// local cluster.
func (c *cli) connect(ctx context.Context, logf func(string, ...any)) (db *store.DB, closeFn func(), err error) {
	conns := 0 // store's default
	if v := os.Getenv("BULKHEAD_DB_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			return nil, nil, fmt.Errorf("%w: BULKHEAD_DB_CONNS must be a number of connections, at least 2", errUsage)
		}
		conns = n
	}
	tenantConns := 0 // store's default
	if v := os.Getenv("BULKHEAD_TENANT_CONNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n == 0 {
			return nil, nil, fmt.Errorf("%w: BULKHEAD_TENANT_CONNS must be how many connections one tenant may hold at once (at least 1), or -1 for no limit", errUsage)
		}
		tenantConns = n
	}
	dsn := c.DatabaseURL
	closeCluster := func() {}
	if dsn == "" {
		dir, err := c.dataDir()
		if err != nil {
			return nil, nil, err
		}
		c.DataDir = dir
		cluster, err := localpg.Open(dir, localpg.Options{Log: logf})
		if err != nil {
			return nil, nil, err
		}
		dsn = cluster.URL(localpg.Database)
		closeCluster = func() {
			if err := cluster.Close(); err != nil {
				logf("stop PostgreSQL: %v", err)
			}
		}
	}
	db, err = store.Open(ctx, dsn, store.Options{
		MaxOpenConns: conns,
		TenantConns:  tenantConns,
		ListenDSN:    os.Getenv("BULKHEAD_LISTEN_DATABASE_URL"),
		CitusSchemas: os.Getenv("BULKHEAD_CITUS_SCHEMAS") == "on",
	})
	if err != nil {
		closeCluster()
		return nil, nil, err
	}
	if _, err := db.MigrateControl(ctx); err != nil {
		db.Close()
		closeCluster()
		return nil, nil, fmt.Errorf("migrate the control plane: %w", err)
	}
	c.tenants = tenant.NewService(db)
	if c.recordedBaseURL, err = c.tenants.FindBaseURL(ctx); err != nil {
		db.Close()
		closeCluster()
		return nil, nil, err
	}
	return db, func() { db.Close(); closeCluster() }, nil
}

// input opens the file name for reading, or standard input for "-".
func (c *cli) input(name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(c.stdin), nil
	}
	return os.Open(name)
}

// print writes v as one JSON object with --json, and text otherwise.
func (c *cli) print(v any, text string) {
	if c.JSON {
		b, _ := json.Marshal(v)
		fmt.Fprintln(c.stdout, string(b))
		c.printed = true
		return
	}
	fmt.Fprint(c.stdout, text)
}

// wantsJSON reports whether args ask for --json, for errors raised before
// the command's flags are parsed.
func wantsJSON(args []string) bool {
	for _, a := range args {
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "json" {
			b, err := strconv.ParseBool(val)
			return !hasVal || (err == nil && b)
		}
	}
	return false
}

// helpPath reports whether args ask for help (-h, --help or -help anywhere
// before "--", or "help" first) and of which command.
func helpPath(args []string) ([]string, bool) {
	if len(args) > 0 && args[0] == "help" {
		return commandPath(args[1:]), true
	}
	for _, a := range args {
		switch a {
		case "--":
			return nil, false
		case "-h", "-help", "--help":
			return commandPath(args), true
		}
	}
	return nil, false
}

// commandPath returns the longest run of leading words of args that names
// a command or a group of commands in usage, such as [tenant token create].
// Usage is the one list of commands: help and the hint after a usage error
// are read from it, so a command added to it gets both.
func commandPath(args []string) []string {
	var path []string
	for i := range args {
		if !strings.Contains(usage, "\n  bulkhead "+strings.Join(args[:i+1], " ")+" ") &&
			!strings.Contains(usage, "\n  bulkhead "+strings.Join(args[:i+1], " ")+"\n") {
			break
		}
		path = args[:i+1]
	}
	return path
}

// help returns the help of the command or group path: its lines of usage,
// then the flags every command takes; the whole usage for no path.
func help(path []string) string {
	if len(path) == 0 {
		return usage
	}
	prefix := "  bulkhead " + strings.Join(path, " ")
	var b strings.Builder
	b.WriteString("Usage:\n")
	in := false
	for _, line := range strings.Split(usage, "\n") {
		switch {
		case strings.HasPrefix(line, "  bulkhead "):
			in = line == prefix || strings.HasPrefix(line, prefix+" ")
		case !strings.HasPrefix(line, "    "): // not a continuation line
			in = false
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	b.WriteString(commonHelp)
	if path[0] == "serve" {
		b.WriteString(serveHelp)
	}
	return b.String()
}
