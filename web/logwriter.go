package web

import (
	"bufio"
	"context"
	"io"
	"sync"
	"time"
)

// LogFlushInterval is how long a line written to a LogWriter may wait in
// its buffer: what a crash (a kill, a fatal runtime error) can lose of the
// log. A clean shutdown loses nothing (LogWriter.Flush).
const LogFlushInterval = 200 * time.Millisecond

// logBufferSize is how much a LogWriter holds before it writes at once.
const logBufferSize = 64 << 10

// LogWriter buffers the server's log so that a request's log line costs no
// system call of its own: lines are written out together, every
// LogFlushInterval (Run) or when the buffer fills, and by Flush at
// shutdown. Each Write is one
// whole line from slog, so lines never interleave.
type LogWriter struct {
	mu       sync.Mutex
	w        io.Writer
	buf      *bufio.Writer
	buffered bool
}

// NewLogWriter returns a LogWriter writing to w, each line at once until
// Buffer is called: start-up lines, which people and scripts watch for,
// come out as they are logged.
func NewLogWriter(w io.Writer) *LogWriter {
	return &LogWriter{w: w, buf: bufio.NewWriterSize(w, logBufferSize)}
}

// Buffer makes the lines written from now on wait in the buffer.
func (l *LogWriter) Buffer() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buffered = true
}

// Write buffers p once Buffer was called, writing out the buffer first
// when p does not fit, and writes it at once before.
func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.buffered {
		return l.w.Write(p)
	}
	return l.buf.Write(p)
}

// Flush writes out what the buffer holds.
func (l *LogWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Flush()
}

// Run flushes every LogFlushInterval until ctx ends, then once more.
func (l *LogWriter) Run(ctx context.Context) {
	t := time.NewTicker(LogFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = l.Flush()
		case <-ctx.Done():
			_ = l.Flush()
			return
		}
	}
}
