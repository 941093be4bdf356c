package dashboard

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Chart geometry, in the SVG's own units (it scales to its box).
const (
	chartW, chartH = 600, 180
	padL, padR     = 64, 22
	padT, padB     = 10, 24
)

// chart is a server-rendered SVG chart over days, with what a screen
// reader says of it and the numbers for the table under it.
type chart struct {
	ID, Title, Desc string
	W, H            int
	Grid            []tick // horizontal lines with the y axis labels
	XTicks          []tick // day labels
	Bars            []bar
	Lines           []line
	Legend          []legend
	Head            []string   // the table's header: Day, then one per series
	Rows            [][]string // one per day
	Zero            float64    // y of the zero line
	Left, Right     float64    // x of the plot's edges
}

type tick struct {
	X, Y  float64
	Label string
}

type bar struct {
	X, Y, W, H float64
	Class      string
	Label      string // the bar's tooltip: day, series and value
}

type line struct {
	D, Class string
}

type legend struct{ Name, Class string }

// xAxis is the times of a chart's points, how often one is labelled and
// how labels and table rows write them.
type xAxis struct {
	Times           []time.Time
	Every           int
	TickFmt, RowFmt string
}

func dayAxis(days []time.Time) xAxis { return xAxis{days, 7, "Jan 2", "2006-01-02"} }

func hourAxis(hours []time.Time) xAxis { return xAxis{hours, 4, "15:04", "2006-01-02 15:04"} }

func minuteAxis(minutes []time.Time) xAxis { return xAxis{minutes, 240, "15:04", "2006-01-02 15:04"} }

// series is one named row of values, one per day.
type series struct {
	Name, Class string
	Values      []int64
}

// scale maps values between lo and hi (lo ≤ 0 ≤ hi) onto the plot's
// height; step is the distance between grid lines, a round number.
type scale struct{ lo, hi, step float64 }

func newScale(ss []series) scale {
	s := scale{}
	for _, se := range ss {
		for _, v := range se.Values {
			s.lo, s.hi = min(s.lo, float64(v)), max(s.hi, float64(v))
		}
	}
	s.step = niceStep((s.hi - s.lo) / 3)
	s.lo, s.hi = math.Floor(s.lo/s.step)*s.step, math.Ceil(s.hi/s.step)*s.step
	if s.hi == s.lo {
		s.hi = s.lo + s.step
	}
	return s
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten (at least 1).
func niceStep(raw float64) float64 {
	if raw <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func (s scale) y(v float64) float64 {
	return padT + (s.hi-v)/(s.hi-s.lo)*float64(chartH-padT-padB)
}

// newChart lays out the axes, legend and table shared by bar and line charts.
func newChart(id, title, desc string, x xAxis, ss []series, format, axis func(int64) string) (chart, scale) {
	c := chart{ID: id, Title: title, Desc: desc, W: chartW, H: chartH, Head: []string{"UTC"}, Left: padL, Right: chartW - padR}
	sc := newScale(ss)
	c.Zero = sc.y(0)
	for v := sc.lo; v <= sc.hi; v += sc.step {
		c.Grid = append(c.Grid, tick{X: padL - 6, Y: sc.y(v), Label: axis(int64(v))})
	}
	step := plotW() / float64(len(x.Times))
	for i, d := range x.Times {
		if i%x.Every == (len(x.Times)-1)%x.Every {
			c.XTicks = append(c.XTicks, tick{X: padL + step*(float64(i)+0.5), Y: chartH - 6, Label: d.Format(x.TickFmt)})
		}
		row := []string{d.Format(x.RowFmt)}
		for _, se := range ss {
			row = append(row, format(se.Values[i]))
		}
		c.Rows = append(c.Rows, row)
	}
	for _, se := range ss {
		c.Head = append(c.Head, se.Name)
		c.Legend = append(c.Legend, legend{Name: se.Name, Class: se.Class})
	}
	return c, sc
}

func plotW() float64 { return float64(chartW - padL - padR) }

// barChart draws the series as bars side by side per day, up or down from zero.
func barChart(id, title, desc string, x xAxis, ss []series, format, axis func(int64) string) chart {
	c, sc := newChart(id, title, desc, x, ss, format, axis)
	step := plotW() / float64(len(x.Times))
	w := step * 0.8 / float64(len(ss))
	for i, d := range x.Times {
		for j, se := range ss {
			v := float64(se.Values[i])
			top, bottom := sc.y(max(v, 0)), sc.y(min(v, 0))
			c.Bars = append(c.Bars, bar{X: padL + step*float64(i) + step*0.1 + w*float64(j), Y: top, W: w, H: max(bottom-top, 0),
				Class: se.Class, Label: fmt.Sprintf("%s · %s: %s", d.Format("Jan 2"), se.Name, format(se.Values[i]))})
		}
	}
	return c
}

// lineChart draws each series as a line through the middle of its days.
func lineChart(id, title, desc string, x xAxis, ss []series, format, axis func(int64) string) chart {
	c, sc := newChart(id, title, desc, x, ss, format, axis)
	step := plotW() / float64(len(x.Times))
	for _, se := range ss {
		var b strings.Builder
		for i, v := range se.Values {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&b, "%s%.1f %.1f ", cmd, padL+step*(float64(i)+0.5), sc.y(float64(v)))
		}
		c.Lines = append(c.Lines, line{D: strings.TrimSpace(b.String()), Class: se.Class})
	}
	return c
}

// compact writes a count or an amount in major units short enough for an
// axis: 950, 1.2k, 3.4M.
func compact(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(math.Round(v/100)/10, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
