package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress reports how far a long run over many tenants has come, with its
// rate and the time left: a bar redrawn in place on a terminal, a plain line
// every few seconds otherwise (logs, CI). Safe for concurrent use.
type progress struct {
	w        io.Writer
	tty      bool
	what     string
	total    int
	start    time.Time
	every    time.Duration
	mu       sync.Mutex
	done     int
	failed   int
	lastDraw time.Time
}

func newProgress(w io.Writer, what string, total int) *progress {
	p := &progress{w: w, what: what, total: total, start: time.Now(), every: 2 * time.Second}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty, p.every = true, 100*time.Millisecond
	}
	return p
}

// add counts one finished item; a failure's message is printed on a line of
// its own.
func (p *progress) add(failure string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if failure != "" {
		p.failed++
		if p.tty {
			fmt.Fprint(p.w, "\r\033[K")
		}
		fmt.Fprintln(p.w, failure)
		p.lastDraw = time.Time{}
	}
	if now := time.Now(); now.Sub(p.lastDraw) >= p.every || p.done == p.total {
		p.lastDraw = now
		p.draw(now)
	}
}

func (p *progress) draw(now time.Time) {
	elapsed := now.Sub(p.start)
	rate := float64(p.done) / max(elapsed.Seconds(), 1e-3)
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-p.done)/rate) * time.Second).Round(time.Second).String()
	}
	pct := 100 * float64(p.done) / float64(max(p.total, 1))
	line := fmt.Sprintf("%s %d/%d (%.0f%%), %d failed, %.0f/s, ETA %s", p.what, p.done, p.total, pct, p.failed, rate, eta)
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	const width = 30
	filled := int(pct / 100 * width)
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), line)
	if p.done == p.total {
		fmt.Fprintln(p.w)
	}
}
