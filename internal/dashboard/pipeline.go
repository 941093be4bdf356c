package dashboard

import (
	"fmt"
	"strconv"
	"time"

	"github.com/billwire/billwire/internal/store"
)

// pipelineView is the webhook pipeline's last 24 hours, from the counters
// billwire serve's replicas flush each minute (store.WebhookMinutes).
type pipelineView struct {
	Deliveries, Latency                  chart
	Accepted, Duplicate, Refused, Failed int64
	P50, P95                             string // over the 24 hours
}

// newPipeline lays the minutes of the 24 hours before now out as charts.
func newPipeline(mins []store.WebhookMinute, now time.Time) pipelineView {
	last := now.UTC().Truncate(time.Minute)
	first := last.Add(-24*time.Hour + time.Minute)
	minutes := make([]time.Time, 24*60)
	for i := range minutes {
		minutes[i] = first.Add(time.Duration(i) * time.Minute)
	}
	names := []string{"Accepted", "Duplicate", "Refused", "Failed"}
	ss := make([]series, len(names))
	for i, n := range names {
		ss[i] = series{Name: n, Class: "s" + strconv.Itoa(i+1), Values: make([]int64, len(minutes))}
	}
	hourFirst := first.Truncate(time.Hour)
	hours := make([]time.Time, 0, 25)
	for h := hourFirst; !h.After(last); h = h.Add(time.Hour) {
		hours = append(hours, h)
	}
	perHour := make([][]int64, len(hours))
	all := make([]int64, len(store.LatencyBoundsMs)+1)
	var v pipelineView
	for _, m := range mins {
		i := int(m.Minute.Sub(first) / time.Minute)
		if i < 0 || i >= len(minutes) {
			continue
		}
		for j, n := range []int64{m.Accepted, m.Duplicate, m.Refused, m.Failed} {
			ss[j].Values[i] += n
		}
		v.Accepted, v.Duplicate, v.Refused, v.Failed = v.Accepted+m.Accepted, v.Duplicate+m.Duplicate, v.Refused+m.Refused, v.Failed+m.Failed
		h := int(m.Minute.Sub(hourFirst) / time.Hour)
		if perHour[h] == nil {
			perHour[h] = make([]int64, len(all))
		}
		for b, n := range m.Latency {
			if b < len(all) {
				perHour[h][b] += n
				all[b] += n
			}
		}
	}
	count := func(n int64) string { return strconv.FormatInt(n, 10) }
	v.Deliveries = lineChart("deliveries", "Webhook deliveries per minute, last 24 hours",
		fmt.Sprintf("Accepted %d, duplicate %d, refused %d, failed %d over 24 hours.", v.Accepted, v.Duplicate, v.Refused, v.Failed),
		minuteAxis(minutes), ss, count, count)
	v.Deliveries.Rows = hourlyRows(hours, ss, first)
	p50, p95 := series{Name: "p50 (ms)", Class: "s1"}, series{Name: "p95 (ms)", Class: "s3"}
	for _, hist := range perHour {
		p50.Values, p95.Values = append(p50.Values, quantileMs(hist, 0.50)), append(p95.Values, quantileMs(hist, 0.95))
	}
	v.P50, v.P95 = msLabel(quantileMs(all, 0.50)), msLabel(quantileMs(all, 0.95))
	v.Latency = lineChart("latency", "Webhook latency from arrival to commit per hour, last 24 hours",
		fmt.Sprintf("Upper bounds of the p50 and p95 latency of accepted deliveries, per hour; over 24 hours p50 %s, p95 %s.", v.P50, v.P95),
		hourAxis(hours), []series{p50, p95}, msLabel, count)
	return v
}

// hourlyRows sums per-minute series (from first) into one table row per hour.
func hourlyRows(hours []time.Time, ss []series, first time.Time) [][]string {
	sums := make([][]int64, len(hours))
	for h := range sums {
		sums[h] = make([]int64, len(ss))
	}
	for j, se := range ss {
		for i, n := range se.Values {
			sums[int(first.Add(time.Duration(i)*time.Minute).Sub(hours[0])/time.Hour)][j] += n
		}
	}
	rows := make([][]string, len(hours))
	for h, t := range hours {
		rows[h] = []string{t.Format("2006-01-02 15:04")}
		for _, n := range sums[h] {
			rows[h] = append(rows[h], strconv.FormatInt(n, 10))
		}
	}
	return rows
}

// quantileMs is the upper bound, in ms, of the histogram bucket holding
// quantile q; 0 for an empty histogram, twice the last bound past it.
func quantileMs(hist []int64, q float64) int64 {
	var total int64
	for _, n := range hist {
		total += n
	}
	if total == 0 {
		return 0
	}
	var seen int64
	for i, n := range hist {
		seen += n
		if float64(seen) >= q*float64(total) {
			if i < len(store.LatencyBoundsMs) {
				return store.LatencyBoundsMs[i]
			}
			break
		}
	}
	return 2 * store.LatencyBoundsMs[len(store.LatencyBoundsMs)-1]
}

func msLabel(ms int64) string {
	if ms == 0 {
		return "none"
	}
	return "≤ " + strconv.FormatInt(ms, 10) + " ms"
}
