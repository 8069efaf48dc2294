package pool

import (
	"bufio"
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

// A transaction of one lookup (TxOptions.OneLookup) in one round trip.
//
// lib/pq waits for the answer to each statement before it sends the next,
// so a tenant transaction that reads one resource costs three round trips:
// BEGIN with its settings, the lookup, COMMIT. PostgreSQL's protocol lets a
// client send several messages at once and read the answers after
// (pipelining), which lib/pq cannot do; so for this one case the
// connection writes the messages itself, on the socket lib/pq dialled,
// while lib/pq is idle between statements, and leaves the connection as
// lib/pq expects it: outside a transaction, nothing left to read.
//
// What the round trip sends, in the extended protocol, in order:
//
//	for each statement of the settings (TxOptions.Setup):
//	  [Parse]                 it, named, the first time on this connection
//	  Bind, Execute           it with its arguments
//	[Parse]                   the lookup, named, the first time on this connection and schema
//	Bind, Describe, Execute   the lookup with its arguments
//	Sync
//
// There is no BEGIN and no COMMIT: the messages up to a Sync run in one
// transaction, which commits at the Sync (PostgreSQL's protocol docs,
// "Pipelining"), and PostgreSQL answers with one ReadyForQuery, so the
// answer usually comes in one read. The settings are set_config(…, true)
// calls, which hold until the end of that transaction, and the shared
// tenant lock is a transaction lock, held until it ends: the lookup runs
// with the tenant's search_path and role, the statement timeout and the
// generic plan (plan_cache_mode, which the first statement of the settings
// sets too), under the lock. PostgreSQL starts the statement timeout
// afresh at the message after each Execute, with the value set by then,
// so the timeout bounds the statements after the one that sets it: the
// wait for the tenant lock, and the lookup. Should the settings fail,
// PostgreSQL skips every message up to the Sync and rolls back: the
// lookup never runs without them. Nothing is parsed per request: the
// settings and the lookup are statements prepared once per connection,
// their values parameters.
//
// It applies only where the socket is lib/pq's plain connection (a Unix
// socket or sslmode=disable: under TLS the bytes are not ours to write),
// not behind a transaction pooler, not while lookups are paused, at the
// default isolation level and READ WRITE, with TxOptions.Setup, and for
// arguments of the basic driver types; otherwise the transaction begins as
// any other when its lookup comes (begin), with TxOptions.Settings, and
// costs what it did before.

// rawConn is where Connect learns the socket lib/pq dialled.
type rawConn struct{ net.Conn }

type rawSlotKey struct{}

// dialer is lib/pq's dialer, keeping the socket it opens in the slot its
// context carries (see connector.Connect), and counting the round trips
// made on it in trips (see Pool.RoundTrips).
type dialer struct {
	net.Dialer
	trips *atomic.Int64
}

func (d dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d dialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (d dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	nc, err := d.Dialer.DialContext(ctx, network, address)
	if err == nil && d.trips != nil {
		nc = &countingConn{Conn: nc, trips: d.trips}
	}
	if err == nil {
		if slot, ok := ctx.Value(rawSlotKey{}).(*rawConn); ok {
			slot.Conn = nc
		}
	}
	return nc, err
}

// countingConn counts the round trips made on a connection: each read
// that follows a write is the wait for an answer. One client at a time
// reads and writes a connection (lib/pq, or a trip here), so wrote needs
// no lock.
type countingConn struct {
	net.Conn
	trips *atomic.Int64
	wrote bool
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.wrote = true
	return c.Conn.Write(b)
}

func (c *countingConn) Read(b []byte) (int, error) {
	if c.wrote {
		c.wrote = false
		c.trips.Add(1)
	}
	return c.Conn.Read(b)
}

// ErrOneLookup is what a second statement gets in a transaction of one
// lookup (TxOptions.OneLookup), whose lookup ended it.
var ErrOneLookup = errors.New("pool: a second statement in a transaction of one lookup")

// tripArgs reports whether each of args has a type execute encodes;
// lib/pq sends the others.
func tripArgs(args []driver.NamedValue) bool {
	for _, a := range args {
		switch a.Value.(type) {
		case nil, string, []byte, int64, float64, bool, time.Time:
		default:
			return false
		}
	}
	return true
}

// header appends the start of a protocol message of type t to b; finish
// fills in its length, at, once its body follows.
func header(b []byte, t byte) (_ []byte, at int) {
	return append(b, t, 0, 0, 0, 0), len(b) + 1
}

func finish(b []byte, at int) []byte {
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at))
	return b
}

// queryMsg appends a Query message of sql.
func queryMsg(b []byte, sql string) []byte {
	b, at := header(b, 'Q')
	b = append(append(b, sql...), 0)
	return finish(b, at)
}

// parseMsg appends a Parse message preparing sql as statement name (""
// for the unnamed one), its parameters' types left to the server.
func parseMsg(b []byte, name, sql string) []byte {
	b, at := header(b, 'P')
	b = append(append(b, name...), 0)
	b = append(append(b, sql...), 0)
	b = append(b, 0, 0)
	return finish(b, at)
}

// setupKey names a statement of the settings prepared on a connection:
// with first, the first of a transaction of prepared lookups, it also sets
// the plan mode.
type setupKey struct {
	exprs string
	first bool
}

// planMode is what the first statement of the settings adds: lookups use
// their generic plan (TxOptions.LookupsOnly says why).
const planMode = ", pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true)"

// oneTrip runs the settings c.oneSetup and the lookup query, prepared as
// name (first, when prepare), in one implicit transaction and one round
// trip on c's socket, its messages after those b holds. It returns the
// lookup's rows, read whole, the names of the settings' statements it
// prepared, and how many Parse messages it sent, the lookup's last.
func (c *conn) oneTrip(ctx context.Context, b []byte, name string, prepare bool, query string, args []driver.NamedValue) (_ driver.Rows, _ map[setupKey]string, parses int, _ error) {
	var prepared map[setupKey]string
	for i, s := range c.oneSetup {
		k := setupKey{s.Exprs, i == 0 && !c.search}
		sname, ok := c.setups[k]
		if !ok {
			sname = c.newName()
			sql := "SELECT " + s.Exprs
			if k.first {
				sql += planMode
			}
			b = parseMsg(b, sname, sql)
			if prepared == nil {
				prepared = make(map[setupKey]string)
			}
			prepared[k] = sname
		}
		b = bindText(b, sname, s.Args)
		b = append(b, executeAll...) // no Describe: its row is not read (see tripIO)
	}
	parses = len(prepared)
	if prepare {
		b = parseMsg(b, name, query)
		parses++
	}
	b = execute(b, name, args)
	rows, err := c.send(ctx, b, 1, 0)
	return rows, prepared, parses, err
}

// send writes b, the messages of a trip, on c's socket and reads the
// answers up to the readies-th ReadyForQuery, returning the rows that come
// after the rowsAt-th (see tripIO). ctx bounds it. Any failure but an
// error the server reported leaves the connection in a state unknown, and
// it is discarded.
func (c *conn) send(ctx context.Context, b []byte, readies, rowsAt int) (driver.Rows, error) {
	return c.sendIn(ctx, b, readies, rowsAt, 'I')
}

// sendIn is send for a trip that leaves the connection in the transaction
// status end: 'I' (idle) or 'T' (in a transaction; or 'E', aborted, when
// the server reported an error).
func (c *conn) sendIn(ctx context.Context, b []byte, readies, rowsAt int, end byte) (driver.Rows, error) {
	// When ctx ends, by its deadline or cancelled, a deadline in the past
	// stops the reads and writes on the socket. The socket never gets a
	// deadline otherwise, so there is nothing to clear after the trip.
	nc := c.raw.Conn
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() {
			// ctx ended meanwhile, and its deadline may land on the socket
			// after we would clear it: lib/pq must not get it.
			c.bad.Store(true)
		}
	}()
	rows, err := c.tripIO(b, readies, rowsAt, end)
	if err != nil {
		var pqErr *pq.Error
		if !errors.As(err, &pqErr) {
			// The connection is in an unknown state: never reuse it.
			c.bad.Store(true)
			if ctx.Err() != nil {
				return nil, fmt.Errorf("pool: %w (%w)", ctx.Err(), err)
			}
		}
		return nil, err
	}
	return rows, nil
}

// executeAll is an Execute of the unnamed portal, all its rows; describe
// a Describe of it, and syncMsg a Sync.
var (
	executeAll = []byte{'E', 0, 0, 0, 9, 0, 0, 0, 0, 0}
	describe   = []byte{'D', 0, 0, 0, 6, 'P', 0}
	syncMsg    = []byte{'S', 0, 0, 0, 4}
)

// execute appends to b the messages that run the prepared statement name
// ("" for the unnamed one) with args (of the types tripArgs takes) and end
// with Sync: Bind, Describe, Execute, Sync. Values go in text, []byte in
// binary (as lib/pq sends them with binary parameters).
func execute(b []byte, name string, args []driver.NamedValue) []byte {
	b, at := header(b, 'B')
	b = append(b, 0)                  // portal ""
	b = append(append(b, name...), 0) // the statement
	b = binary.BigEndian.AppendUint16(b, uint16(len(args)))
	for _, a := range args {
		var format uint16 // text
		if _, ok := a.Value.([]byte); ok {
			format = 1 // binary
		}
		b = binary.BigEndian.AppendUint16(b, format)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(args)))
	for _, a := range args {
		if a.Value == nil {
			b = binary.BigEndian.AppendUint32(b, math.MaxUint32) // NULL
			continue
		}
		at := len(b)
		b = append(b, 0, 0, 0, 0) // the length, filled in below
		switch v := a.Value.(type) {
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case float64:
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		case bool:
			b = strconv.AppendBool(b, v)
		case time.Time:
			b = v.AppendFormat(b, time.RFC3339Nano)
		}
		binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	}
	b = binary.BigEndian.AppendUint16(b, 0) // results in text
	b = finish(b, at)
	b = append(b, describe...)
	b = append(b, executeAll...)
	return append(b, syncMsg...)
}

// bindText appends a Bind of the unnamed portal to the prepared statement
// name with args, in text, none NULL.
func bindText(b []byte, name string, args []string) []byte {
	b, at := header(b, 'B')
	b = append(b, 0)
	b = append(append(b, name...), 0)
	b = binary.BigEndian.AppendUint16(b, 0) // every parameter in text
	b = binary.BigEndian.AppendUint16(b, uint16(len(args)))
	for _, a := range args {
		b = binary.BigEndian.AppendUint32(b, uint32(len(a)))
		b = append(b, a...)
	}
	b = binary.BigEndian.AppendUint16(b, 0) // results in text
	return finish(b, at)
}

// runOneTrip runs the transaction of one lookup that BeginTx held back,
// with its lookup query, in one round trip; the transaction has ended
// when it returns.
func (c *conn) runOneTrip(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	key := c.schema + "\x00" + query
	var name string
	var known bool
	b := c.wbuf[:0]
	if c.search {
		b, name, known = c.keptName(b, key)
	} else {
		name, known = c.stmtName(key)
	}
	rows, prepared, parses, err := c.oneTrip(c.bound(ctx), b, name, !known, query, args)
	c.oneBegin, c.oneSettings, c.oneSetup, c.oneDone = "", "", nil, true
	if c.search && !known && c.parsed == parses {
		// Its Parse, the trip's last, succeeded: prepared, whether the
		// search then failed or not (see runFinal).
		c.keep(key, name)
	}
	if err != nil {
		return nil, err
	}
	if !known && !c.search {
		c.remember(key, name)
	}
	for k, n := range prepared {
		if c.setups == nil {
			c.setups = make(map[setupKey]string)
		}
		c.setups[k] = n
	}
	return rows, nil
}

// stmtName returns the name of the statement prepared on c under key (see
// named), and whether it is prepared; when not, a new name. A new name on
// every try: a Parse that succeeded in a transaction that failed later
// still holds its name.
func (c *conn) stmtName(key string) (name string, known bool) {
	if name, ok := c.named[key]; ok {
		return name, true
	}
	return c.newName(), false
}

// remember records that the statement name is prepared on c under key.
func (c *conn) remember(key, name string) {
	if c.named == nil {
		c.named = make(map[string]string)
	}
	c.named[key] = name
}

// newName returns a name for a statement to prepare on c.
func (c *conn) newName() string {
	c.nextName++
	return "bk_" + strconv.Itoa(c.nextName-1)
}

// tripIO writes b and reads the answers up to the readies-th
// ReadyForQuery, returning the rows that came after the rowsAt-th (from
// 0), from their RowDescription on, or the first error the server
// reported. The connection must end the trip in transaction status end
// (see sendIn).
func (c *conn) tripIO(b []byte, readies, rowsAt int, end byte) (*tripRows, error) {
	if _, err := c.raw.Write(b); err != nil {
		return nil, err
	}
	if cap(b) <= 64<<10 { // the next trip's buffer, unless a large one
		c.wbuf = b[:0]
	} else {
		c.wbuf = nil
	}
	if c.rbuf == nil {
		c.rbuf = bufio.NewReaderSize(c.raw.Conn, 8192)
		c.colNames = make(map[string]string)
	}
	r := c.rbuf
	rows := &tripRows{}
	c.parsed = 0
	var first error
	var hdr [5]byte
	var status byte
	for ready := 0; ready < readies; {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
		if n < 0 || n > 1<<30 {
			return nil, fmt.Errorf("pool: bad message length %d", n)
		}
		// The values of the rows kept are kept too (see decodeText); other
		// messages are read into scratch space.
		keep := hdr[0] == 'D' && ready == rowsAt && rows.cols != nil
		var body []byte
		if keep {
			body = make([]byte, n)
		} else {
			if cap(c.scratch) < n {
				c.scratch = make([]byte, n)
			}
			body = c.scratch[:n]
		}
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		switch hdr[0] {
		case '1':
			c.parsed++
		case 'Z':
			ready++
			if n > 0 {
				status = body[0]
			}
		case 'E':
			if first == nil {
				first = parseError(body)
			}
		case 'T':
			// Only the statement's: the settings are a SELECT too.
			if ready == rowsAt {
				if err := rows.describe(body, c.colNames); err != nil {
					return nil, err
				}
			}
		case 'D':
			// A row before the statement's RowDescription is one of
			// settings sent without Describe (see oneTrip).
			if keep {
				if err := rows.add(body); err != nil {
					return nil, err
				}
			}
		}
		// BindComplete, CloseComplete, CommandComplete, NoData, notices,
		// parameter status and notifications need nothing.
	}
	if status != end && (status != 'E' || end != 'T' || first == nil) {
		return nil, fmt.Errorf("pool: connection left in state %q after a trip", status)
	}
	if r.Buffered() > 0 {
		// Something came after the trip's last answer, such as the FATAL
		// of a server shutting down: the answers are whole and stand (a
		// COMMIT that came back committed), but the connection is in a
		// state unknown, and is never reused.
		c.bad.Store(true)
	}
	if first != nil {
		return nil, first
	}
	return rows, nil
}

// parseError reads an ErrorResponse into lib/pq's error type, which the
// rest of Bulkhead reads codes from.
func parseError(body []byte) *pq.Error {
	e := &pq.Error{}
	for len(body) > 1 {
		f := body[0]
		end := 1
		for end < len(body) && body[end] != 0 {
			end++
		}
		v := string(body[1:end])
		body = body[min(end+1, len(body)):]
		switch f {
		case 'S':
			e.Severity = v
		case 'C':
			e.Code = pqerror.Code(v)
		case 'M':
			e.Message = v
		case 'D':
			e.Detail = v
		case 'H':
			e.Hint = v
		case 'P':
			e.Position = v
		case 'W':
			e.Where = v
		case 's':
			e.Schema = v
		case 't':
			e.Table = v
		case 'c':
			e.Column = v
		case 'n':
			e.Constraint = v
		case 'R':
			e.Routine = v
		}
	}
	return e
}

// tripRows are the rows of a one-trip lookup, read whole.
type tripRows struct {
	cols []string
	oids []uint32
	rows [][]driver.Value
	next int
}

// describe reads a RowDescription into r, taking the columns' names from
// names, where they are kept once each: the same few statements run again
// and again on a connection.
func (r *tripRows) describe(body []byte, names map[string]string) error {
	if len(body) < 2 {
		return errors.New("pool: short RowDescription")
	}
	n := int(binary.BigEndian.Uint16(body))
	body = body[2:]
	r.cols, r.oids = make([]string, n), make([]uint32, n)
	for i := range n {
		end := 0
		for end < len(body) && body[end] != 0 {
			end++
		}
		if end+19 > len(body) {
			return errors.New("pool: short RowDescription")
		}
		name, ok := names[string(body[:end])]
		if !ok {
			name = string(body[:end])
			if len(names) < maxColNames {
				names[name] = name
			}
		}
		r.cols[i] = name
		r.oids[i] = binary.BigEndian.Uint32(body[end+7:])
		body = body[end+19:]
	}
	return nil
}

func (r *tripRows) add(body []byte) error {
	if len(body) < 2 {
		return errors.New("pool: short DataRow")
	}
	n := int(binary.BigEndian.Uint16(body))
	if n != len(r.oids) {
		return errors.New("pool: DataRow without its description")
	}
	body = body[2:]
	row := make([]driver.Value, n)
	for i := range n {
		if len(body) < 4 {
			return errors.New("pool: short DataRow")
		}
		l := int32(binary.BigEndian.Uint32(body))
		body = body[4:]
		if l < 0 {
			continue
		}
		if int(l) > len(body) {
			return errors.New("pool: short DataRow")
		}
		v, err := decodeText(body[:l:l], r.oids[i])
		if err != nil {
			return err
		}
		row[i] = v
		body = body[l:]
	}
	r.rows = append(r.rows, row)
	return nil
}

// decodeText turns a text-format value into what lib/pq returns for its
// type, so that scanning reads the same values either way.
func decodeText(s []byte, oid uint32) (driver.Value, error) {
	switch oid {
	case 18, 1042, 1043, 25: // char, bpchar, varchar, text
		return string(s), nil
	case 16: // bool
		return len(s) > 0 && s[0] == 't', nil
	case 20, 21, 23: // int8, int2, int4
		return strconv.ParseInt(string(s), 10, 64)
	case 700, 701: // float4, float8
		return strconv.ParseFloat(string(s), 64)
	case 1184, 1114, 1082: // timestamptz, timestamp, date
		return pq.ParseTimestamp(nil, string(s))
	case 17: // bytea: lookups do not return it
		return nil, errors.New("pool: bytea in a one-trip lookup")
	}
	return s, nil
}

// maxColNames bounds the column names a connection keeps (see describe).
const maxColNames = 256

func (r *tripRows) Columns() []string { return r.cols }
func (r *tripRows) Close() error      { return nil }
func (r *tripRows) Next(dest []driver.Value) error {
	if r.next >= len(r.rows) {
		return io.EOF
	}
	copy(dest, r.rows[r.next])
	r.next++
	return nil
}

// A transaction's last statement sent with its COMMIT (Final).
//
// A write whose work ends in one statement, such as a create whose side
// rows, audit record and events ride in that statement (see package scim),
// would otherwise wait once more, for COMMIT alone. A statement marked
// Final is sent with COMMIT in one write, on the socket as oneTrip does:
//
//	[Close]                        the oldest kept statement, when maxKept are kept
//	[Parse]                        the statement, named, the first time on this connection and schema
//	Bind, Describe, Execute, Sync  the statement
//	Query COMMIT
//
// Should the statement fail, the transaction is aborted and COMMIT rolls
// it back; either way the connection is left outside any transaction, its
// Commit and Rollback have nothing left to send, and Commit reports a
// failed statement. Where the socket is not ours (TLS, a transaction
// pooler) or an argument's type is not one tripArgs knows, the mark is
// ignored and COMMIT goes at Commit, as usual.
//
// A statement marked Final is one a tenant sends again and again with
// other values (a POST's create, whose text depends only on its riders),
// so, in a tenant schema, it is prepared by its text like a lookup (see
// Lookup): once per connection and schema, and PostgreSQL stops parsing
// it at each run and, after its first five, planning it (its generic
// plan: a statement of CTEs over arrays of parameters plans the same for
// any values). A Parse that succeeded holds its name whether the
// statement then failed or not (a prepared statement outlives its
// transaction), so the name is kept then too; a create refused as a
// conflict, again and again, prepares nothing more. A connection keeps
// at most maxKept of them and of searches, dropping the oldest: a User create holds
// about 330 KB of the backend's memory once it has its generic plan (the
// statement, its query trees, the plan), against 25–50 KB for a lookup,
// and a caller whose text varies (a number in the text) must not pile
// them up. The lookups are bounded by the schemas a connection works in
// (Config.MaxConnSchemas). Outside a schema, and
// while prepared statements are paused (see plans), the statement goes
// unnamed, in the same one trip.

type finalKey struct{}

// Final returns ctx marking the statement run with it, in a transaction,
// as the transaction's last: its COMMIT is sent with it. Nothing may run
// in the transaction after it (ErrAfterFinal), and whatever the caller
// decides after it, the transaction has committed unless the statement
// failed; so mark only a statement after which nothing can fail.
func Final(ctx context.Context) context.Context {
	return context.WithValue(ctx, finalKey{}, true)
}

// ErrAfterFinal is what a statement gets after the transaction's last
// (Final) ended it.
var ErrAfterFinal = errors.New("pool: a statement after the transaction's last")

// runFinal runs query with its arguments and COMMIT in one round trip; the
// transaction has ended when it returns. In a schema, unless prepared
// statements are paused, query runs as a statement prepared on c for the
// schema and its text (see Final).
func (c *conn) runFinal(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	b := c.wbuf[:0]
	var key, name string
	known := true
	if c.schema != "" && !c.plans.paused() {
		key = c.schema + "\x00" + query
		b, name, known = c.keptName(b, key)
	}
	if !known || name == "" {
		b = parseMsg(b, name, query)
	}
	b = execute(b, name, args)
	b = queryMsg(b, "COMMIT")
	c.final = true
	rows, err := c.send(c.bound(ctx), b, 2, 0)
	c.finalErr = err
	if !known && c.parsed > 0 {
		// Prepared, whether the statement then failed or not: a prepared
		// statement outlives the transaction it was prepared in.
		c.keep(key, name)
	}
	return rows, err
}

// keptName is stmtName for a statement kept among at most maxKept (see
// Final): when key is not prepared and maxKept are, it appends to b, the
// trip's messages, a Close of the oldest, which never fails, and forgets
// it.
func (c *conn) keptName(b []byte, key string) (_ []byte, name string, known bool) {
	name, known = c.stmtName(key)
	if !known && len(c.kept) >= maxKept {
		old := c.kept[0]
		c.kept = c.kept[1:]
		b = closeMsg(b, c.named[old])
		delete(c.named, old)
	}
	return b, name, known
}

// keep records that the statement name is prepared on c under key, among
// the kept (see keptName).
func (c *conn) keep(key, name string) {
	c.remember(key, name)
	c.kept = append(c.kept, key)
}

// maxKept bounds the statements a connection keeps prepared for Final
// and for searches (see Final and TxOptions.Search): 16 User creates are
// about 5 MB of a backend.
const maxKept = 16

// closeMsg appends a Close of the prepared statement name.
func closeMsg(b []byte, name string) []byte {
	b, at := header(b, 'C')
	b = append(b, 'S')
	b = append(append(b, name...), 0)
	return finish(b, at)
}

// A statement with a setting sent before it (Before).
//
// Bulk runs each operation under a savepoint, set (or released and set
// again) before the operation's first statement: a round trip of its own
// for a statement that cannot fail. Marked with Before, the savepoint
// goes in the same write as the statement that follows it:
//
//	Query    RELEASE SAVEPOINT …; SAVEPOINT …
//	Parse (unnamed), Bind, Describe, Execute, Sync   the statement
//
// Should the first fail, the transaction is aborted and the statement
// fails with it (25P02). Where the trip cannot be made, the SQL goes on
// its own first, as before.

// Pending is SQL to be sent before the next statement of a transaction
// (Before). Sent says that it went.
type Pending struct {
	SQL  string
	Sent bool
}

type beforeKey struct{}

// Before returns ctx marking the first statement run with it, or with a
// context derived from it, to be preceded by p.SQL, simple-protocol SQL
// without parameters (such as SAVEPOINT), sent in the same round trip.
// After the statement, p.Sent is true.
func Before(ctx context.Context, p *Pending) context.Context {
	return context.WithValue(ctx, beforeKey{}, p)
}

// pending returns the SQL ctx says is still to be sent before its
// statement, nil when none.
func pending(ctx context.Context) *Pending {
	p, _ := ctx.Value(beforeKey{}).(*Pending)
	if p == nil || p.Sent {
		return nil
	}
	return p
}

// runBefore runs p's SQL and query with its arguments in one round trip, in
// the open transaction.
func (c *conn) runBefore(ctx context.Context, p *Pending, query string, args []driver.NamedValue) (driver.Rows, error) {
	b := queryMsg(c.wbuf[:0], p.SQL)
	b = parseMsg(b, "", query)
	b = execute(b, "", args)
	p.Sent = true
	return c.sendIn(c.bound(ctx), b, 2, 1, 'T')
}

// sendPending sends the SQL ctx says goes before its statement, on its own.
func (c *conn) sendPending(ctx context.Context) error {
	p := pending(ctx)
	if p == nil {
		return nil
	}
	p.Sent = true
	_, err := c.pqConn.ExecContext(c.bound(ctx), p.SQL, nil)
	return err
}
