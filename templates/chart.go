package templates

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bulkhead-dev/bulkhead/app/insight"
)

// Charts are drawn on the server as SVG: no script, no CDN, readable
// offline and in screenshots. Geometry is computed here; the templ
// components only draw it.

// Chart dimensions in SVG units; the SVG scales to its container.
const (
	chartW      = 760.0
	chartH      = 220.0
	chartLeft   = 48.0 // room for the y labels
	chartRight  = 12.0
	chartTop    = 12.0
	chartBottom = 26.0 // room for the x labels
)

type rect struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

type label struct {
	X, Y   float64
	Text   string
	Anchor string
}

type gridLine struct{ Y float64 }

type polyline struct {
	Points string
	Class  string
	Dots   []dot
}

type dot struct {
	X, Y  float64
	Class string
	Title string
}

// chartGeometry is one chart, ready to draw.
type chartGeometry struct {
	W, H    float64
	Rects   []rect
	Lines   []polyline
	XLabels []label
	YLabels []label
	Grid    []gridLine
	Left    float64
	Bottom  float64
	Right   float64
	Label   string // for screen readers
}

func f(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// niceScale picks the top of a y axis and the step between its gridlines
// for values up to peak: the step is 1, 2 or 5 times a power of ten, and
// about four steps reach the top, so that every label is a round number
// (10, 20, 30 ms rather than 6.2, 12.5, 18.8). whole keeps the step at 1 or
// more, for counts.
func niceScale(peak float64, whole bool) (top, step float64) {
	if peak <= 0 {
		return 1, 1
	}
	rough := peak / 4
	p := math.Pow(10, math.Floor(math.Log10(rough)))
	step = 10 * p
	for _, m := range []float64{1, 2, 5} {
		if m*p >= rough {
			step = m * p
			break
		}
	}
	if whole {
		step = math.Max(step, 1)
	}
	return math.Ceil(peak/step-1e-9) * step, step
}

func shortNum(v float64) string {
	switch {
	case v >= 1e6:
		return strings.TrimSuffix(strconv.FormatFloat(v/1e6, 'f', 1, 64), ".0") + "M"
	case v >= 1e4:
		return strings.TrimSuffix(strconv.FormatFloat(v/1e3, 'f', 1, 64), ".0") + "k"
	case v == math.Trunc(v):
		return Num(int64(v))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// buckets returns the times of all series' points, sorted and unique.
func buckets(series []insight.Series) []time.Time {
	seen := map[int64]bool{}
	var ts []time.Time
	for _, s := range series {
		for _, p := range s.Points {
			if k := p.At.Unix(); !seen[k] {
				seen[k] = true
				ts = append(ts, p.At)
			}
		}
	}
	for i := 1; i < len(ts); i++ { // insertion sort: series arrive nearly sorted
		for j := i; j > 0 && ts[j].Before(ts[j-1]); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
	return ts
}

func yAxis(g *chartGeometry, top, step float64, unit string) {
	plotH := chartH - chartTop - chartBottom
	for v := 0.0; v <= top+step/2; v += step {
		y := chartH - chartBottom - plotH*v/top
		g.Grid = append(g.Grid, gridLine{Y: y})
		g.YLabels = append(g.YLabels, label{X: chartLeft - 6, Y: y + 4, Text: shortNum(math.Round(v/step)*step) + unit, Anchor: "end"})
	}
}

func xLabels(g *chartGeometry, ts []time.Time, step float64, layout string) {
	every := max(1, int(math.Ceil(float64(len(ts))/8)))
	for i, t := range ts {
		if i%every != 0 {
			continue
		}
		g.XLabels = append(g.XLabels, label{X: chartLeft + step*(float64(i)+0.5), Y: chartH - 8, Text: t.UTC().Format(layout), Anchor: "middle"})
	}
}

// stackedBars lays out series stacked per bucket: one bar per time, one
// segment per series, each with its exact value on hover.
func stackedBars(series []insight.Series, layout, what string) chartGeometry {
	g := chartGeometry{W: chartW, H: chartH, Left: chartLeft, Bottom: chartH - chartBottom, Right: chartW - chartRight}
	ts := buckets(series)
	if len(ts) == 0 {
		return g
	}
	totals := make([]float64, len(ts))
	index := map[int64]int{}
	for i, t := range ts {
		index[t.Unix()] = i
	}
	for _, s := range series {
		for _, p := range s.Points {
			totals[index[p.At.Unix()]] += p.Value
		}
	}
	var peak, sum float64
	for _, t := range totals {
		peak = math.Max(peak, t)
		sum += t
	}
	top, tick := niceScale(peak, true)
	plotW := chartW - chartLeft - chartRight
	plotH := chartH - chartTop - chartBottom
	step := plotW / float64(len(ts))
	barW := math.Max(1, step*0.72)
	base := make([]float64, len(ts))
	for _, s := range series {
		for _, p := range s.Points {
			if p.Value <= 0 {
				continue
			}
			i := index[p.At.Unix()]
			h := p.Value / top * plotH
			y := chartH - chartBottom - base[i] - h
			base[i] += h
			g.Rects = append(g.Rects, rect{
				X: chartLeft + step*float64(i) + (step-barW)/2, Y: y, W: barW, H: h,
				Class: "s-" + seriesClass(s.Name),
				Title: p.At.UTC().Format(layout) + " · " + s.Name + ": " + shortNum(p.Value),
			})
		}
	}
	yAxis(&g, top, tick, "")
	xLabels(&g, ts, step, layout)
	g.Label = what + ": " + shortNum(sum) + " in all, at most " + shortNum(peak) + " in one bucket"
	return g
}

func seriesClass(name string) string {
	switch name {
	case "2xx", "4xx", "5xx":
		return name
	}
	return "other"
}

// lines lays out series as lines over time, with a dot per point. axis,
// when given, is the x axis: the latency of the few days with requests is
// drawn over the same 30 days as the requests chart beside it, not
// stretched across the width as if those days were all there is. whole
// says the values are counts.
func lines(series []insight.Series, axis []time.Time, layout, unit, what string, whole bool) chartGeometry {
	g := chartGeometry{W: chartW, H: chartH, Left: chartLeft, Bottom: chartH - chartBottom, Right: chartW - chartRight}
	ts := axis
	if len(ts) == 0 {
		ts = buckets(series)
	}
	if len(ts) == 0 {
		return g
	}
	index := map[int64]int{}
	for i, t := range ts {
		index[t.Unix()] = i
	}
	var peak float64
	for _, s := range series {
		for _, p := range s.Points {
			peak = math.Max(peak, p.Value)
		}
	}
	top, tick := niceScale(peak, whole)
	plotW := chartW - chartLeft - chartRight
	plotH := chartH - chartTop - chartBottom
	step := plotW / float64(len(ts))
	var parts []string
	for n, s := range series {
		pl := polyline{Class: "l-" + strconv.Itoa(n%2)}
		var pts []string
		for _, p := range s.Points {
			i, ok := index[p.At.Unix()]
			if !ok {
				continue
			}
			x := chartLeft + step*(float64(i)+0.5)
			y := chartH - chartBottom - p.Value/top*plotH
			pts = append(pts, f(x)+","+f(y))
			pl.Dots = append(pl.Dots, dot{X: x, Y: y, Class: "p-" + strconv.Itoa(n%2), Title: p.At.UTC().Format(layout) + " · " + s.Name + ": " + shortNum(p.Value) + unit})
		}
		pl.Points = strings.Join(pts, " ")
		g.Lines = append(g.Lines, pl)
		if len(s.Points) > 0 {
			parts = append(parts, s.Name+" latest "+shortNum(s.Points[len(s.Points)-1].Value)+unit)
		}
	}
	yAxis(&g, top, tick, unit)
	xLabels(&g, ts, step, layout)
	g.Label = what + ": " + strings.Join(parts, ", ")
	return g
}
