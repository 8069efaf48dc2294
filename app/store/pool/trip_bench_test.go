package pool_test

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/bulkhead-dev/bulkhead/app/store/storetest"
	"github.com/bulkhead-dev/bulkhead/app/tenant"
)

// BenchmarkOneLookup reads a user of a strict tenant by id in a
// transaction of one lookup, as GET /Users/{id} does, one after another,
// and reports besides time and allocations the read and write system
// calls the process made per read (from /proc/self/io): figures that do
// not move with the machine's load.
func BenchmarkOneLookup(b *testing.B) {
	ctx := context.Background()
	db := storetest.NewDB(b)
	tn, _, err := tenant.NewService(db).CreateTenant(ctx, tenant.NewTenant{ID: "one", Strict: true}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	id := uuid.NewString()
	if err := db.InTenant(ctx, tn.Scope(), func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, user_name, data) VALUES ($1, 'ada', '{"userName": "ada"}')`, id)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	get := func() {
		var data []byte
		if err := db.InTenantLookup(ctx, tn.Scope(), func(ctx context.Context, q sqlx.QueryerContext) error {
			return sqlx.GetContext(ctx, q, &data, `SELECT data FROM users WHERE id = $1`, id)
		}); err != nil {
			b.Fatal(err)
		}
	}
	get() // prepares the statements on the connection
	r0, w0 := syscalls(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		get()
	}
	b.StopTimer()
	r1, w1 := syscalls(b)
	b.ReportMetric(float64(r1-r0)/float64(b.N), "reads/op")
	b.ReportMetric(float64(w1-w0)/float64(b.N), "writes/op")
}

// syscalls returns the read and write system calls of the process so far.
func syscalls(b *testing.B) (reads, writes int64) {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "syscr":
			reads = n
		case "syscw":
			writes = n
		}
	}
	return reads, writes
}
