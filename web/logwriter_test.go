package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/bulkhead-dev/bulkhead/web"
)

// countingWriter counts the writes that reach it: what would each be a
// system call on the server's standard output.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// TestLogWriter: start-up lines reach the output as they are logged; once
// serving (Buffer), request log lines from many goroutines reach it whole,
// none lost once flushed, in a few large writes rather than one per line;
// Run writes out the rest when it stops.
func TestLogWriter(t *testing.T) {
	out := &countingWriter{}
	lw := web.NewLogWriter(out)
	slog.New(slog.NewJSONHandler(lw, nil)).Info("serving")
	if !strings.Contains(out.String(), `"msg":"serving"`) {
		t.Fatalf("a start-up line waits in the buffer: %q", out.String())
	}
	out.Reset()
	out.writes = 0
	lw.Buffer()
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); lw.Run(ctx) }()
	log := slog.New(slog.NewJSONHandler(lw, nil))
	const goroutines, lines = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				log.Info("request", "g", g, "i", i, "path", strings.Repeat("x", 100))
			}
		}()
	}
	wg.Wait()
	stop()
	<-ran
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != goroutines*lines {
		t.Fatalf("%d lines written, want %d", len(got), goroutines*lines)
	}
	for _, l := range got {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("a log line is not whole: %q", l)
		}
	}
	if out.writes > goroutines*lines/20 {
		t.Fatalf("%d writes for %d lines: the log is not buffered", out.writes, goroutines*lines)
	}
}
