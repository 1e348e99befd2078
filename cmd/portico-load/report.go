package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/portico-health/portico/store/sqlite"
)

// The targets the run is judged against.
const (
	targetReadShare = 0.60  // Portico read / combined ceiling
	targetReadRate  = 8_000 // Portico reads per second
	targetCreates   = 1_500 // creates per second, 16 clients, store of 100,000
	targetRSS       = 150e6 // bytes, after 100,000 resources
	targetTx        = 2_000 // resources per second through transaction Bundles of 100
	targetSearchP99 = 20 * time.Millisecond
	targetSearches  = 1_000 // searches per second, 16 clients
)

// print writes the machine, the table and the verdicts as Markdown.
func (rep *report) print(w io.Writer, o *options, total time.Duration) {
	fmt.Fprintf(w, "\nportico-load: %s, GOMAXPROCS %d, %d CPUs (%s), SQLite driver %s, servers: %s\n",
		runtime.Version(), gomaxprocs(), runtime.NumCPU(), cpuModel(), sqlite.DriverName, o.server)
	fmt.Fprintf(w, "preload %d (stored %d), %v per phase after %v warm-up, %d read connections, %d writers; run took %v\n\n",
		o.preload, rep.preloaded, o.duration, o.warmup, o.conns, o.writers, total.Round(time.Second))
	fmt.Fprintln(w, "| phase | rate | p50 | p99 | notes |")
	fmt.Fprintln(w, "|---|--:|--:|--:|---|")
	for _, r := range rep.rows {
		notes := r.notes
		if r == rep.porticoRead && rep.combined != nil && rep.combined.rate() > 0 {
			notes += fmt.Sprintf("; %.0f%% of the combined ceiling", 100*r.rate()/rep.combined.rate())
		}
		p50, p99 := fmtDur(r.p50()), fmtDur(r.p99())
		if r.fixedRate > 0 && r.fixedP50 == 0 {
			p50, p99 = "–", "–"
		}
		fmt.Fprintf(w, "| %s | %s %s | %s | %s | %s |\n", r.phase, commas(r.rate()), r.unit, p50, p99, notes)
	}
	if len(rep.mem) > 0 {
		var parts []string
		var peak int64
		for _, p := range rep.mem {
			parts = append(parts, fmt.Sprintf("%s %.0f MB", p.when, float64(p.m.rss)/1e6))
			peak = max(peak, p.m.hwm)
		}
		fmt.Fprintf(w, "| Portico resident memory (VmRSS) | %.0f MB | | | %s; peak VmHWM %.0f MB; %s |\n",
			float64(rep.mem[len(rep.mem)-1].m.rss)/1e6, strings.Join(parts, ", "), float64(peak)/1e6, rep.memWhat)
		fmt.Fprintln(w, "\nServer memory by phase (VmRSS = anonymous + file-backed + shared):")
		for _, p := range rep.mem {
			fmt.Fprintf(w, "- %s: %v; largest sample during the phase %v\n", p.when, p.m, p.peak)
		}
	}
	if rep.stopErr != nil {
		fmt.Fprintf(w, "\nPortico did not stop cleanly: %v\n", rep.stopErr)
	}
	rep.verdicts(w, o)
}

// verdicts compares the run with the targets.
func (rep *report) verdicts(w io.Writer, o *options) {
	fmt.Fprintln(w)
	if r := rep.porticoRead; r != nil {
		line := fmt.Sprintf("read: %s req/s (target ≥ %s)", commas(r.rate()), commas(targetReadRate))
		ok := r.rate() >= targetReadRate
		if c := rep.combined; c != nil && c.rate() > 0 {
			share := r.rate() / c.rate()
			line += fmt.Sprintf(", %.0f%% of the combined ceiling's %s req/s (target ≥ %.0f%%)",
				100*share, commas(c.rate()), 100*targetReadShare)
			ok = ok && share >= targetReadShare
		}
		fmt.Fprintf(w, "- %s %s\n", verdict(ok), line)
	}
	if r := rep.create; r != nil {
		fmt.Fprintf(w, "- %s create: %s req/s with %d clients on a store of %d (target ≥ %s with 16 on 100,000)\n",
			verdict(r.rate() >= targetCreates), commas(r.rate()), o.writers, rep.preloaded, commas(targetCreates))
	}
	if r := rep.tx; r != nil {
		fmt.Fprintf(w, "- %s transaction ingestion: %s resources/s in Bundles of %d (target ≥ %s on a store of 100,000; this one held %d)\n",
			verdict(r.rate() >= targetTx), commas(r.rate()), txEntries, commas(targetTx), rep.preloaded)
	}
	for _, r := range rep.searchLatency {
		fmt.Fprintf(w, "- %s search p99 %s, one client: %s (target < %v at 1,000,000 Observations; this dataset has %d)\n",
			verdict(r.p99() < targetSearchP99 && r.ops > 0), fmtDur(r.p99()), r.phase, targetSearchP99, rep.searchShape.Observations)
	}
	if r := rep.searchRate; r != nil {
		fmt.Fprintf(w, "- %s search throughput: %s req/s with %d clients (target ≥ %s with 16)\n",
			verdict(r.rate() >= targetSearches), commas(r.rate()), o.writers, commas(targetSearches))
	}
	if len(rep.mem) > 0 {
		// Judged on the resident memory after each phase (the server holding the preloaded
		// resources and what the phases added); the peak while a phase runs is printed beside.
		var after int64
		for _, p := range rep.mem {
			after = max(after, p.m.rss)
		}
		last := rep.mem[len(rep.mem)-1].m
		fmt.Fprintf(w, "- %s server memory: VmRSS at most %.0f MB after a phase, %.0f MB at the end (target < %.0f MB after 100,000 resources); peak while under load %.0f MB; %s\n",
			verdict(float64(after) < targetRSS), float64(after)/1e6, float64(last.rss)/1e6, targetRSS/1e6, float64(last.hwm)/1e6, rep.memWhat)
	}
}

func verdict(ok bool) string {
	if ok {
		return "MET   "
	}
	return "MISSED"
}

// commas formats a rate with thousands separators.
func commas(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtDur formats a latency with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
